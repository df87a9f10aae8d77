"""Writers of COCO-format data: any Pascal-VOC data set (NEU-DET as a preset), and the synthetic
demo set."""
