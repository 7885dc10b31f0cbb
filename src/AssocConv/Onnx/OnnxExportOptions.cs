namespace AssocConv.Onnx;

/// <summary>What an ONNX export writes besides the graph: the form of associative layers and the metadata a deploying
/// application needs to feed the model.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Kernels baked in (the default) or built from the generator in the graph.</summary>
    public OnnxForm Form { get; init; } = OnnxForm.Materialized;

    /// <summary>Input channels, height and width of one image (the batch dimension is dynamic).</summary>
    public (long Channels, long Height, long Width) InputSize { get; init; } = (3, 32, 32);

    /// <summary>Per-channel mean and standard deviation the input is normalised with, (pixel / 255 - mean) / std;
    /// empty when unknown.</summary>
    public IReadOnlyList<double> Mean { get; init; } = [];

    /// <inheritdoc cref="Mean"/>
    public IReadOnlyList<double> Std { get; init; } = [];

    /// <summary>The class of each output, in order; empty when unknown.</summary>
    public IReadOnlyList<string> ClassNames { get; init; } = [];

    /// <summary>The dataset it was trained on, as <c>--data</c> names it (e.g. <c>cifar10</c>), so that evaluation
    /// finds it; null when unknown.</summary>
    public string? Data { get; init; }

    /// <summary>The model's name and options (e.g. <c>ModelSpec.ToJson()</c>), stored as given.</summary>
    public string? ModelDescription { get; init; }

    /// <summary>Opset of the default ONNX domain (17 or newer).</summary>
    public int Opset { get; init; } = 17;
}
