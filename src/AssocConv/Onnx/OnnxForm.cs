namespace AssocConv.Onnx;

/// <summary>How an associative model's kernels reach an ONNX file.</summary>
public enum OnnxForm
{
    /// <summary>Each generated kernel is computed once and stored as an ordinary convolution's weight: the plain
    /// model's graph and size.</summary>
    Materialized,

    /// <summary>The generator and the codes are stored, and the graph builds every kernel from them (Gemm, Reshape,
    /// Slice as the layout rule says): the file is as small as the compact format; ONNX Runtime folds the kernels
    /// into constants when it loads the model.</summary>
    Generator,
}
