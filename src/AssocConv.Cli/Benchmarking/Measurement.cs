namespace AssocConv.Benchmarking;

/// <summary>Repeated measurements of one quantity: the median and the spread (min to max).</summary>
/// <param name="Samples">Every repetition's value.</param>
public sealed record Measurement(IReadOnlyList<double> Samples)
{
    /// <summary>The median.</summary>
    public double Median
    {
        get
        {
            var sorted = Samples.Order().ToArray();
            int n = sorted.Length;
            return n == 0 ? double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        }
    }

    /// <summary>The smallest value.</summary>
    public double Min => Samples.Count == 0 ? double.NaN : Samples.Min();

    /// <summary>The largest value.</summary>
    public double Max => Samples.Count == 0 ? double.NaN : Samples.Max();

    /// <summary>(max - min) / median, the relative spread.</summary>
    public double Spread => (Max - Min) / Median;
}
