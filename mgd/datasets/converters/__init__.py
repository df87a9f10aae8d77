"""Writers of COCO-format data: NEU-DET from VOC XML, and the synthetic demo set."""
