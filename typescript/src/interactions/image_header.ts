// What a picture's first bytes say it is: PNG or JPEG, and its width and height, read from the
// header alone (PNG's IHDR, JPEG's start-of-frame marker), so that /predict refuses anything
// else, and pictures too small or too large, before a byte of it is decoded. A small file can
// declare a huge picture (a decompression bomb); the dimensions are what decoding would cost.

export type ImageHeader =
  | { readonly kind: "image"; readonly format: "png" | "jpeg"; readonly width: number; readonly height: number }
  | { readonly kind: "refused"; readonly reason: string };

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Start-of-frame markers (baseline, extended, progressive, lossless...), not DHT (C4), JPG (C8) or DAC (CC). */
const JPEG_FRAMES = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

const NOT_AN_IMAGE = "the file is not a PNG or JPEG picture; send a photo or drawing of one digit as PNG or JPEG";

function png(bytes: Uint8Array): ImageHeader {
  // Signature (8), then the IHDR chunk: length (4), "IHDR" (4), width (4), height (4).
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== "IHDR") return { kind: "refused", reason: NOT_AN_IMAGE };
  return { kind: "image", format: "png", width: view.getUint32(16), height: view.getUint32(20) };
}

function jpeg(bytes: Uint8Array): ImageHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 2;
  // Segments: FF <marker> <length: 2 bytes, itself included>; the frame's is P (1), height, width.
  while (at + 9 <= bytes.byteLength) {
    if (bytes[at] !== 0xff) break;
    const marker = view.getUint8(at + 1);
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (JPEG_FRAMES.has(marker)) return { kind: "image", format: "jpeg", width: view.getUint16(at + 7), height: view.getUint16(at + 5) };
    at += 2 + view.getUint16(at + 2);
  }
  return { kind: "refused", reason: NOT_AN_IMAGE };
}

/** The format and size `bytes` declare, or why they are not a picture we read. */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (PNG_SIGNATURE.every((byte, index) => bytes[index] === byte)) return png(bytes);
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return jpeg(bytes);
  return { kind: "refused", reason: NOT_AN_IMAGE };
}

/** Pictures smaller than the model's 28x28 input, or larger than this on a side, are refused. */
export const MIN_SIDE = 28;
export const MAX_SIDE = 4096;

/** The header's verdict with the size limits applied: null when the picture may be read. */
export function refusalOf(header: ImageHeader): string | null {
  if (header.kind === "refused") return header.reason;
  const size = `${header.width}x${header.height}`;
  if (header.width < MIN_SIDE || header.height < MIN_SIDE)
    return `the picture is ${size} pixels, too small; send one at least ${MIN_SIDE}x${MIN_SIDE}`;
  if (header.width > MAX_SIDE || header.height > MAX_SIDE) {
    return `the picture is ${size} pixels, more than we read (${MAX_SIDE}x${MAX_SIDE}); send a smaller photo of the digit`;
  }
  return null;
}
