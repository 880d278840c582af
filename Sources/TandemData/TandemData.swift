/// TandemData: file formats (IDX, NPY/NPZ, safetensors) and the standard multi-task data sets.
/// Every reader validates what it reads and throws `TandemError` naming the file and the problem.
public enum TandemData {}
