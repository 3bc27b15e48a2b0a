"""The 20 Google Patents queries the corpus was scraped with, in scrape order."""

from __future__ import annotations

QUERIES: tuple[str, ...] = (
    "Transformer Language Model",
    "Federated Learning Privacy",
    "Reinforcement Learning Policy",
    "Generative Diffusion Model",
    "Neural Network Compression",
    "Explainable AI System",
    "Computer Vision Segmentation",
    "Anomaly Detection Time Series",
    "Natural Language Understanding",
    "Active Learning Data Selection",
    "Edge AI Accelerator",
    "Transfer Learning Pre-trained",
    "Model Drift Monitoring",
    "Graph Neural Network Embedding",
    "Causal Inference AI",
    "Hyperparameter Optimization Automated",
    "Synthetic Data Generation",
    "Adversarial Machine Learning",
    "Deep Learning Compiler",
    "Model Deployment Pipeline",
)
