using System.Text.Json.Nodes;

namespace AssocConv.Data;

/// <summary>
/// What a checkpoint records of the data its model was trained on, so that evaluation, prediction and export need no
/// other input: the dataset spec and source, the class names, the normalisation and the image shape.
/// </summary>
/// <param name="Spec">The dataset as given to <c>--data</c>, e.g. <c>cifar10</c>.</param>
/// <param name="Source">Where its files were read from.</param>
/// <param name="ClassNames">One name per class, in label order.</param>
/// <param name="Normalization">What inputs are normalised with.</param>
/// <param name="Channels">Image channels.</param>
/// <param name="Height">Image height.</param>
/// <param name="Width">Image width.</param>
public sealed record DataDescription(string? Spec, string? Source, IReadOnlyList<string> ClassNames,
    Normalization Normalization, int Channels, int Height, int Width)
{
    // far above any real dataset, far below what exhausts memory when a file claims it
    private const int MaxClasses = 100_000, MaxChannels = 64, MaxSide = 1 << 16;

    /// <summary>As JSON (the <c>data</c> object of a checkpoint's header).</summary>
    public JsonObject ToJson() => new()
    {
        ["spec"] = Spec,
        ["source"] = Source,
        ["class_names"] = new JsonArray(ClassNames.Select(n => (JsonNode)n).ToArray()),
        ["mean"] = new JsonArray(Normalization.Mean.Select(v => (JsonNode)v).ToArray()),
        ["std"] = new JsonArray(Normalization.Std.Select(v => (JsonNode)v).ToArray()),
        ["channels"] = Channels,
        ["height"] = Height,
        ["width"] = Width,
    };

    /// <summary>From <see cref="ToJson"/>'s output, every field checked.</summary>
    /// <param name="json">The <c>data</c> object.</param>
    /// <param name="origin">The file it came from, for messages.</param>
    /// <exception cref="InvalidDataException">It is missing, or a field is missing, of the wrong type, out of range
    /// or inconsistent with another.</exception>
    public static DataDescription FromJson(JsonNode? json, string origin)
    {
        if (json is not JsonObject data) throw new InvalidDataException($"{origin}: it does not describe its data");
        try
        {
            int channels = Whole(data, "channels", MaxChannels), height = Whole(data, "height", MaxSide),
                width = Whole(data, "width", MaxSide);
            var names = Array(data, "class_names").Select(n => (string)n!).ToArray();
            if (names.Length is < 1 or > MaxClasses)
                throw new FormatException($"{names.Length} class names (1 to {MaxClasses:N0})");
            if (DisplayText.ClassNameProblem(names) is { } unfit) throw new FormatException(unfit);
            var mean = Array(data, "mean").Select(v => (double)v!).ToArray();
            var std = Array(data, "std").Select(v => (double)v!).ToArray();
            if (Normalization.Problem(mean, std, channels) is { } problem) throw new FormatException(problem);
            return new DataDescription((string?)data["spec"], (string?)data["source"], names,
                new Normalization(mean, std), channels, height, width);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or InvalidCastException
            or NullReferenceException or OverflowException)
        {
            throw new InvalidDataException($"{origin}: its data description is invalid: {e.Message}", e);
        }
    }

    private static int Whole(JsonObject data, string name, int max)
    {
        if (data[name] is not JsonValue number) throw new FormatException($"'{name}' is missing");
        // a number as parsed from a file, or as put there in memory (an int)
        long value = number.TryGetValue<long>(out long l) ? l : number.TryGetValue<int>(out int i) ? i
            : number.TryGetValue<double>(out double d) && double.IsFinite(d) && d == Math.Floor(d)
                ? (long)Math.Clamp(d, long.MinValue, long.MaxValue)
            : throw new FormatException($"'{name}' is not a whole number");
        if (value < 1 || value > max) throw new FormatException($"'{name}' is {value} (1 to {max:N0})");
        return (int)value;
    }

    private static JsonArray Array(JsonObject data, string name) =>
        data[name] as JsonArray ?? throw new FormatException($"'{name}' is missing or not a list");
}
