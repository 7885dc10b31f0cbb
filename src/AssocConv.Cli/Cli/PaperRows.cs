using AssocConv.Csg;
using AssocConv.Training;

namespace AssocConv.Cli;

/// <summary>
/// One row of the paper's CIFAR-10 table: a model, its generator, and the authors' checkpoint of that configuration
/// when one is known (its file name; the file records the accuracy the reference code measured), and the epochs it
/// trains under the fast recipe when they differ from the recipe's 40.
/// </summary>
internal sealed record PaperRow(string Name, string Model, SliceShape Slice, int CodeSize,
    string? ReferenceCheckpoint = null, int? FastEpochs = null)
{
    /// <summary>The epochs of this row under <paramref name="recipe"/> when --epochs is not given (null: the
    /// recipe's own).</summary>
    public int? Epochs(string recipe) =>
        string.Equals(recipe.Trim(), TrainingRecipes.FastName, StringComparison.OrdinalIgnoreCase) ? FastEpochs : null;

    /// <summary>The model's own generator defaults (initialisation as the reference's) with this row's slice and code
    /// size.</summary>
    public GeneratorOptions Generator => Models.ModelZoo.Get(Model).DefaultGenerator with { Slice = Slice,
        CodeSize = CodeSize };
}

internal static class PaperRows
{
    // the ResNet-56 rows train 30 fast epochs, the budget issue #13 gives them (deeper, so slower per epoch)
    /// <summary>The rows reproduce knows, in table order.</summary>
    public static IReadOnlyList<PaperRow> All { get; } =
    [
        new("resnet20", "resnet20", new SliceShape(16, 16), 72, "resnet20-csg-16x16-code72.t7"),
        new("resnet56", "resnet56", new SliceShape(12, 12), 72, FastEpochs: 30),
        new("resnet56-16x16-code128", "resnet56", new SliceShape(16, 16), 128, FastEpochs: 30),
        new("densenet-bc-40-36", "densenet-bc-40-36", new SliceShape(12, 12), 72),
        new("densenet-bc-40-48", "densenet-bc-40-48", new SliceShape(12, 12), 72),
    ];

    /// <summary>The row called <paramref name="name"/>.</summary>
    /// <exception cref="UsageException">No row has that name (the message lists them).</exception>
    public static PaperRow Get(string name) =>
        All.FirstOrDefault(r => string.Equals(r.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new UsageException($"--rows: '{name.Trim()}' is not a row; rows are " +
            $"{string.Join(", ", All.Select(r => r.Name))}");
}
