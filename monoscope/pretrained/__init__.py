"""Models shipped inside the package (weights as safetensors, config, tokenizer, what they were trained on).

Each sub-folder is a model folder as `monoscope train-model` writes it; `models/pretrained.py` finds,
checks and installs them, and says how to retrain one.
"""
