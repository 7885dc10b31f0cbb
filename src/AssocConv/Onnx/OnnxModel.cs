using System.Globalization;
using System.Text.Json;
using AssocConv.Data;
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
        // the metadata feeds the model; a damaged or hostile file is refused here, naming the key, rather than
        // failing later as an index out of range or silently normalising with the wrong numbers
        InvalidDataException Bad(string key, string why) =>
            new($"{path}: metadata '{key}' {why}");
        var size = Get(OnnxExport.InputSizeKey).Split('x');
        if (size.Length != 3 || !size.All(s => long.TryParse(s, CultureInfo.InvariantCulture, out _)))
            throw new InvalidDataException($"{path}: not an AssocConv ONNX file (its metadata has no input size)");
        var dims = size.Select(s => long.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        if (!session.InputMetadata.TryGetValue(OnnxExport.InputName, out var input)
            || !session.OutputMetadata.TryGetValue(OnnxExport.OutputName, out var output))
            throw new InvalidDataException($"{path}: the graph has no input '{OnnxExport.InputName}' or no output " +
                $"'{OnnxExport.OutputName}'");
        if (input.Dimensions.Length != 4 || !input.Dimensions.Skip(1).Select(d => (long)d).SequenceEqual(dims))
            throw Bad(OnnxExport.InputSizeKey, $"says {string.Join('x', dims)} but the graph's input is " +
                $"[{string.Join(", ", input.Dimensions)}]");
        InputSize = (dims[0], dims[1], dims[2]);
        if (output.Dimensions.Length != 2 || output.Dimensions[^1] <= 0)
            throw new InvalidDataException($"{path}: the output '{OnnxExport.OutputName}' is " +
                $"[{string.Join(", ", output.Dimensions)}], not [batch, classes]");
        Classes = output.Dimensions[^1];
        Mean = Numbers(OnnxExport.MeanKey, Get(OnnxExport.MeanKey));
        Std = Numbers(OnnxExport.StdKey, Get(OnnxExport.StdKey));
        // both empty: the file does not say (eval then uses the dataset's)
        if ((Mean.Count, Std.Count) != (0, 0) && Normalization.Problem(Mean, Std, InputSize.Channels) is { } problem)
            throw new InvalidDataException($"{path}: metadata '{OnnxExport.MeanKey}' and '{OnnxExport.StdKey}': " +
                problem);
        ClassNames = ClassNamesOf(Get(OnnxExport.ClassNamesKey), Bad);
        if (ClassNames.Count != 0 && ClassNames.Count != Classes)
            throw Bad(OnnxExport.ClassNamesKey, $"names {ClassNames.Count} classes but the model has {Classes} " +
                "outputs");
        // informational (nothing is computed from them), but shown: a file that says something else is not ours
        Form = Get(OnnxExport.FormKey) switch
        {
            "generator" => OnnxForm.Generator,
            "materialized" or "" => OnnxForm.Materialized,
            var other => throw Bad(OnnxExport.FormKey, $"is '{Shorten(other)}', not 'generator' or 'materialized'"),
        };
        Model = Get(OnnxExport.ModelKey);
        Data = Get(OnnxExport.DataKey) is { Length: > 0 } data ? data : null;
        var trainable = Get(OnnxExport.TrainableKey);
        Trainable = trainable.Length == 0 ? 0
            : long.TryParse(trainable, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : throw Bad(OnnxExport.TrainableKey, $"is not a whole number: '{Shorten(trainable)}'");

        double[] Numbers(string key, string text)
        {
            if (text.Length == 0) return [];
            var parts = text.Split(',');
            var values = new double[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                    throw Bad(key, $"is not a comma-separated list of numbers: '{Shorten(text)}'");
            return values;
        }
    }

    private static string[] ClassNamesOf(string text, Func<string, string, InvalidDataException> bad)
    {
        if (text.Length == 0) return [];
        string[]? names;
        try
        {
            names = JsonSerializer.Deserialize<string[]>(text);
        }
        catch (JsonException)
        {
            names = null;
        }
        if (names is null || names.Any(n => n is null))
            throw bad(OnnxExport.ClassNamesKey, $"is not a JSON array of strings: '{Shorten(text)}'");
        if (DisplayText.ClassNameProblem(names) is { } unfit)
            throw bad(OnnxExport.ClassNamesKey, $"is refused: {unfit}");
        return names;
    }

    // a hostile value can be long; an error message quotes its start
    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "...";

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
