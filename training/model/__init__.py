"""The estimation network (paper 3.3-3.5): ViT encoder, heatmap head, Cross-View Fusion, RKTD."""
