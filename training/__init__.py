"""Training of found architectures: the DARTS evaluation networks on CIFAR-10 and ImageNet
(`training.train`, with DDP under torchrun) and their data loading (`training.imagenet_data`)."""
