"""Pretrained convolutional trunks for the `hybrid` backbone, converted from the ONNX files in engine/assets."""
