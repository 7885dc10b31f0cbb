namespace AssocConv.Data;

/// <summary>Per-channel mean and standard deviation that inputs are normalised with, <c>(x/255 - mean) /
/// std</c>.</summary>
/// <param name="Mean">Mean per channel, on the [0, 1] scale.</param>
/// <param name="Std">Standard deviation per channel.</param>
public sealed record Normalization(double[] Mean, double[] Std)
{
    /// <summary>CIFAR-10, as the reference implementation normalises it.</summary>
    public static Normalization Cifar10 { get; } = new([0.4914, 0.4822, 0.4465], [0.2023, 0.1994, 0.2010]);

    /// <summary>CIFAR-100 (training-set statistics).</summary>
    public static Normalization Cifar100 { get; } = new([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]);

    /// <summary>Fashion-MNIST (training-set statistics).</summary>
    public static Normalization FashionMnist { get; } = new([0.2860], [0.3530]);

    /// <summary>MNIST (training-set statistics).</summary>
    public static Normalization Mnist { get; } = new([0.1307], [0.3081]);

    /// <summary>Number of channels.</summary>
    public int Channels => Mean.Length;

    /// <summary>Why these numbers cannot normalise <paramref name="channels"/>-channel images (one mean and one
    /// standard deviation per channel, means finite, standard deviations positive and finite), or null when they
    /// can. Files that carry a normalisation (checkpoints, ONNX metadata) are checked with it on reading and
    /// writing.</summary>
    public static string? Problem(IReadOnlyList<double> mean, IReadOnlyList<double> std, long channels)
    {
        if (mean.Count != channels || std.Count != channels)
            return $"{mean.Count} means and {std.Count} standard deviations for {channels} channels";
        if (!mean.All(double.IsFinite) || !std.All(s => s > 0 && double.IsFinite(s)))
            return $"means ({Join(mean)}) must be finite and standard deviations ({Join(std)}) positive and finite";
        return null;
    }

    private static string Join(IEnumerable<double> values) =>
        string.Join(",", values.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}
