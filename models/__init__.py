"""Models (TIM-Net, Multi-Net), training loops, fusion and scoring."""
