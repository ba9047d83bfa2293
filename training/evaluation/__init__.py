"""Honest evaluation of the project's GANs with judges the project trains itself.

No downloaded weights: the MNIST judge is a small CNN trained on the first 9,000 digits of
mnist10k.npz (`python -m training.evaluation.train_judge`), exported to ONNX with two outputs,
`logits` and `features`, so metrics run without torch.

Modules:
- `judge`: the judge network (torch, for training) and `Judge`, its ONNX runner;
- `metrics`: Frechet distance, class coverage and KL, per-label accuracy, k-NN precision and
  recall, and the 2D mode-collapse metrics of PacGAN;
- `evaluate`: score an exported generator folder; `translation`: a translation folder;
- `cli`: the `evaluate` / `judge` commands, which pick the evaluation by the folder's kind and
  write the figures with `training.model_folder` (model.json `metrics` and the model card).
"""
