using System.Globalization;

namespace AssocConv.Csg;

/// <summary>
/// The shape of one generated slice of filters: <see cref="Out"/> output channels by
/// <see cref="In"/> input channels by a <see cref="KernelHeight"/> x <see cref="KernelWidth"/> kernel.
/// </summary>
/// <param name="Out">Output channels in one slice.</param>
/// <param name="In">Input channels in one slice.</param>
/// <param name="KernelHeight">Kernel rows in one slice.</param>
/// <param name="KernelWidth">Kernel columns in one slice.</param>
public readonly record struct SliceShape(int Out, int In, int KernelHeight = 3, int KernelWidth = 3)
{
    /// <summary>Number of weights in one slice (the generator's output size).</summary>
    public int Elements => checked(Out * In * KernelHeight * KernelWidth);

    /// <summary>True when the slice has as many output as input channels.</summary>
    public bool IsSquare => Out == In;

    /// <summary>Throws unless every dimension is positive.</summary>
    public SliceShape Validate()
    {
        if (Out < 1 || In < 1 || KernelHeight < 1 || KernelWidth < 1)
            throw new ArgumentException($"slice {this} must have positive dimensions");
        return this;
    }

    /// <summary>
    /// Parses <c>OUTxIN</c> (a 3x3-kernel slice) or <c>OUTxINxKHxKW</c>, e.g. <c>12x12</c> or <c>16x16x1x1</c>.
    /// </summary>
    /// <exception cref="FormatException">The text is not of that form or holds a non-positive number.</exception>
    public static SliceShape Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Trim().ToLowerInvariant().Split('x');
        if (parts.Length != 2 && parts.Length != 4)
            throw new FormatException($"slice '{text}' must be OUTxIN or OUTxINxKHxKW, e.g. 12x12 or 16x16x1x1");
        var numbers = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture,
                out numbers[i]) || numbers[i] < 1)
                throw new FormatException($"slice '{text}': '{parts[i]}' is not a positive whole number");
        }
        return parts.Length == 2
            ? new SliceShape(numbers[0], numbers[1])
            : new SliceShape(numbers[0], numbers[1], numbers[2], numbers[3]);
    }

    /// <summary>Formats as <c>OUTxINxKHxKW</c>.</summary>
    public override string ToString() => $"{Out}x{In}x{KernelHeight}x{KernelWidth}";
}
