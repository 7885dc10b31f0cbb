using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AssocConv.Onnx;

/// <summary>
/// An exported classifier on ONNX Runtime (no libtorch involved): its metadata, and logits for batches of
/// normalised images. ONNX Runtime folds a <see cref="OnnxForm.Generator"/> file's kernels into constants when it
/// loads it.
/// </summary>
public sealed class OnnxModel : IDisposable
{
    private readonly InferenceSession _session;

    private OnnxModel(InferenceSession session, string path)
    {
        _session = session;
        Path = path;
        var map = session.ModelMetadata.CustomMetadataMap;
        string Get(string key) => map.TryGetValue(key, out var v) ? v : "";
        var size = Get(OnnxExport.InputSizeKey).Split('x');
        if (size.Length != 3 || !size.All(s => long.TryParse(s, CultureInfo.InvariantCulture, out _)))
            throw new InvalidDataException($"{path}: not an AssocConv ONNX file (its metadata has no input size)");
        InputSize =
            (long.Parse(size[0], CultureInfo.InvariantCulture), long.Parse(size[1], CultureInfo.InvariantCulture),
            long.Parse(size[2], CultureInfo.InvariantCulture));
        Mean = Numbers(Get(OnnxExport.MeanKey));
        Std = Numbers(Get(OnnxExport.StdKey));
        ClassNames = Get(OnnxExport.ClassNamesKey) is { Length: > 0 } names
            ? JsonSerializer.Deserialize<string[]>(names) ?? [] : [];
        Form = Get(OnnxExport.FormKey) == "generator" ? OnnxForm.Generator : OnnxForm.Materialized;
        Model = Get(OnnxExport.ModelKey);
        Data = Get(OnnxExport.DataKey) is { Length: > 0 } data ? data : null;
        Trainable = long.TryParse(Get(OnnxExport.TrainableKey), CultureInfo.InvariantCulture, out var n) ? n : 0;
        Classes = session.OutputMetadata[OnnxExport.OutputName].Dimensions[^1];
    }

    private static double[] Numbers(string text) => text.Length == 0 ? []
        : text.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Opens <paramref name="path"/>; <paramref name="threads"/> bounds ONNX Runtime's intra-op threads
    /// (null: its default).</summary>
    /// <exception cref="InvalidDataException">The file is not an ONNX model written by <see
    /// cref="OnnxExport"/>.</exception>
    public static OnnxModel Load(string path, int? threads = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no ONNX file at {path}", path);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (threads is { } t) options.IntraOpNumThreads = t;
        InferenceSession session;
        try
        {
            session = new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"{path}: ONNX Runtime cannot load it: {e.Message}", e);
        }
        try
        {
            return new OnnxModel(session, path);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>Channels, height and width of one input image.</summary>
    public (long Channels, long Height, long Width) InputSize { get; }

    /// <summary>The normalisation the input needs: (pixel / 255 - mean) / std per channel (empty when not
    /// recorded).</summary>
    public IReadOnlyList<double> Mean { get; }

    /// <inheritdoc cref="Mean"/>
    public IReadOnlyList<double> Std { get; }

    /// <summary>Class names, in output order (empty when not recorded).</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Number of outputs per image.</summary>
    public long Classes { get; }

    /// <summary>How associative layers were written.</summary>
    public OnnxForm Form { get; }

    /// <summary>The model's name and options as exported (JSON), or empty.</summary>
    public string Model { get; }

    /// <summary>The dataset the model was trained on, as <c>--data</c> names it, if recorded.</summary>
    public string? Data { get; }

    /// <summary>The exported model's trainable parameter count.</summary>
    public long Trainable { get; }

    /// <summary>Logits [batch, <see cref="Classes"/>] of <paramref name="batch"/> normalised images, laid out
    /// [batch, C, H, W] in <paramref name="images"/> (read in place, not copied).</summary>
    public float[] Run(float[] images, int batch)
    {
        var (c, h, w) = InputSize;
        if (images.Length != batch * c * h * w)
            throw new ArgumentException($"{batch} images of {c}x{h}x{w} need {batch * c * h * w} values, got " +
                $"{images.Length}");
        var input = new DenseTensor<float>(images, [batch, (int)c, (int)h, (int)w]);
        using var results = _session.Run([NamedOnnxValue.CreateFromTensor(OnnxExport.InputName, input)]);
        return results.First().AsEnumerable<float>().ToArray();
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();
}
