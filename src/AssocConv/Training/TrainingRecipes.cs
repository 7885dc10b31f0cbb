namespace AssocConv.Training;

/// <summary>Named starting points for <see cref="TrainingOptions"/>; every ingredient stays an option of its
/// own.</summary>
public static class TrainingRecipes
{
    /// <summary>Names accepted by <see cref="Get"/>.</summary>
    public const string ReferenceName = "reference", FastName = "fast";

    /// <summary>
    /// The authors' recipe: SGD, momentum 0.9, weight decay 5e-4 on everything, lr 0.05 for half the epochs, then
    /// /10 and /100 for a quarter each, batch 128, crop and flip, 5,000 training images held out for validation.
    /// </summary>
    public static TrainingOptions Reference(int epochs = 200) => new() { Epochs = epochs, Recipe = ReferenceName };

    /// <summary>
    /// For short budgets: lr 0.1 with Nesterov momentum, a 2-epoch linear warm-up then a straight line to 0 (one
    /// cycle), label smoothing 0.1, no weight decay on batch-norm, all 50,000 training images (no validation split:
    /// the final epoch is reported), flip test-time augmentation measured beside the plain test accuracy.
    /// Associative models also start from fan-in-scaled codes (<see cref="Csg.CodeInit.FanIn"/>), a model option.
    /// </summary>
    public static TrainingOptions Fast(int epochs = 40) => new()
    {
        Recipe = FastName,
        Epochs = epochs,
        LearningRate = 0.1,
        Nesterov = true,
        Schedule = LearningRateScheduleKind.Linear,
        WarmupEpochs = Math.Min(2, epochs / 4.0),
        LabelSmoothing = 0.1,
        NormWeightDecay = 0,
        ValidationSplit = 0,
        FlipTest = true,
    };

    /// <summary>The code initialisation a recipe gives associative models unless one is asked for; null: the model's
    /// own.</summary>
    public static Csg.CodeInit? CodeInit(string recipe) =>
        recipe.Trim().ToLowerInvariant() == FastName ? Csg.CodeInit.FanIn : null;

    /// <summary>The recipe called <paramref name="name"/>, for <paramref name="epochs"/> epochs (null: the recipe's own
    /// budget).</summary>
    /// <exception cref="ArgumentException">No recipe has that name.</exception>
    public static TrainingOptions Get(string name, int? epochs = null) => name.Trim().ToLowerInvariant() switch
    {
        ReferenceName => Reference(epochs ?? 200),
        FastName => Fast(epochs ?? 40),
        _ => throw new ArgumentException($"'{name}' is not a recipe; use {ReferenceName} or {FastName}"),
    };
}
