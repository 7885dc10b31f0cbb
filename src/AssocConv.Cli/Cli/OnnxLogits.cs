using AssocConv.Data;
using AssocConv.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Cli;

/// <summary>An ONNX file as a function from a batch of normalised images to logits, so that eval and predict treat it
/// like a model; the computation runs on ONNX Runtime alone.</summary>
internal static class OnnxLogits
{
    public static Func<Tensor, Tensor> Of(OnnxModel model) => images =>
    {
        using var input = images.to(float32).cpu().contiguous();
        int batch = (int)input.shape[0];
        var logits = model.Run(input.data<float>().ToArray(), batch);
        return tensor(logits, new long[] { batch, model.Classes });
    };

    /// <summary>The normalisation the file records (checked when it was loaded), or null when it records
    /// none.</summary>
    public static Normalization? NormalizationOf(OnnxModel model) =>
        model.Mean.Count == 0 ? null : new Normalization(model.Mean.ToArray(), model.Std.ToArray());
}
