"""``/predict``: a picture from Discord -> the digit the active model reads in it.

``predict_worker`` pops requests from their own list (never behind training),
``predict_service`` keeps each model_id's active model loaded, and ``predict_picture`` turns
hostile bytes into a model's 28x28 input or a refusal that says what to send instead.
"""
