namespace AssocConv.Models;

/// <summary>Which convolutions of a zoo model are associative (the first convolution never is).</summary>
public enum AssociativeSelection
{
    /// <summary>The ones the authors' reference implementation generates (each model's table lists them).</summary>
    Reference,

    /// <summary>Every 3x3 convolution.</summary>
    All3x3,

    /// <summary>Every convolution, 1x1 and depthwise included.</summary>
    All,
}

/// <summary>Names of <see cref="AssociativeSelection"/> values as the CLI spells them.</summary>
public static class AssociativeSelectionNames
{
    /// <summary><c>reference</c>, <c>all-3x3</c> or <c>all</c>.</summary>
    public static string ToName(this AssociativeSelection selection) => selection switch
    {
        AssociativeSelection.Reference => "reference",
        AssociativeSelection.All3x3 => "all-3x3",
        AssociativeSelection.All => "all",
        _ => throw new ArgumentOutOfRangeException(nameof(selection), selection, null),
    };

    /// <summary>Parses <c>reference</c>, <c>all-3x3</c> or <c>all</c> (any case).</summary>
    /// <exception cref="FormatException">Any other text.</exception>
    public static AssociativeSelection Parse(string text) => text?.Trim().ToLowerInvariant() switch
    {
        "reference" => AssociativeSelection.Reference,
        "all-3x3" => AssociativeSelection.All3x3,
        "all" => AssociativeSelection.All,
        _ => throw new FormatException($"'{text}' is not a selection of convolutions; use reference, all-3x3 or all"),
    };
}
