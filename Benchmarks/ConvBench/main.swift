// Being written: conv2d forward and backward GFLOP/s at the W2 and W4 shapes.
print("ConvBench: not written yet")
