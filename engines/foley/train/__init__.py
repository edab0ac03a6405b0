"""Training code of the Foley engine (torch lives only here): data generation, the parameter
diffusion model, the visual material classifier, ONNX export and the model-card evaluation."""
