// A deterministic simulated training run, as event JSON text: feeds the chart sample and tests.

const START_MS = Date.UTC(2026, 10, 28, 16, 0, 0);

export interface SampleRunOptions {
  readonly epochs?: number;
  readonly batchesPerEpoch?: number;
  /** Publish a batch event every this many batches (the trainer throttles its batch events). */
  readonly every?: number;
  readonly secondsPerBatch?: number;
  readonly runId?: string;
}

/** A repeatable value in [0, 1) for step `n` (a hash, not a random generator). */
function wobble(n: number): number {
  const x = Math.sin(n * 12.9898) * 43758.5453;
  return x - Math.floor(x);
}

function eventMaker(runId: string) {
  return (type: string, atMs: number, fields: Record<string, number | string>): string => {
    const body = {
      type,
      user_id: 42,
      request_id: "req-sample",
      model_id: "digits",
      run_id: runId,
      ts: new Date(atMs).toISOString(),
      ...fields,
    };
    return JSON.stringify(body);
  };
}

/** Started, batch and epoch events of a run whose loss falls and accuracy rises, with small wobbles. */
export function sampleRun(options: SampleRunOptions = {}): string[] {
  const epochs = options.epochs ?? 5;
  const batches = options.batchesPerEpoch ?? 200;
  const every = options.every ?? 5;
  const pace = (options.secondsPerBatch ?? 0.05) * 1000;
  const event = eventMaker(options.runId ?? "20261128T160000Z-sample");
  const out = [event("digits.train.started.v1", START_MS, { total_epochs: epochs })];
  let at = START_MS;
  for (let epoch = 1; epoch <= epochs; epoch += 1) {
    for (let batch = every; batch <= batches; batch += every) {
      at += pace * every;
      const t = epoch - 1 + batch / batches;
      const loss = 2.2 * Math.exp(-4 * t) + 0.04 + 0.06 * wobble(epoch * 1000 + batch);
      out.push(
        event("digits.train.batch.v1", at, {
          epoch,
          total_epochs: epochs,
          batch,
          total_batches: batches,
          batch_loss: Number(loss.toFixed(4)),
          batch_acc: Number(Math.min(0.99, 1 - loss / 2.5).toFixed(4)),
          avg_loss: Number(loss.toFixed(4)),
          samples_per_sec: 64000 / pace,
        }),
      );
    }
    at += 1500; // validation
    const valAcc = Number((0.995 - 0.1 * Math.exp(-1.1 * epoch)).toFixed(4));
    const trainLoss = Number((0.9 * Math.exp(-1.2 * epoch) + 0.05).toFixed(4));
    out.push(
      event("digits.train.epoch.v1", at, {
        epoch,
        total_epochs: epochs,
        train_loss: trainLoss,
        val_acc: valAcc,
        time_s: (batches * pace + 1500) / 1000,
      }),
    );
  }
  out.push(event("digits.train.completed.v1", at + 200, { val_acc: Number((0.995 - 0.1 * Math.exp(-1.1 * epochs)).toFixed(4)) }));
  return out;
}
