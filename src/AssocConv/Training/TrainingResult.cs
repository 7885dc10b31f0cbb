namespace AssocConv.Training;

/// <summary>How a training run ended.</summary>
/// <param name="RunDirectory">Where its files are.</param>
/// <param name="History">Every completed epoch.</param>
/// <param name="Completed">False when it was interrupted (it saved its state and can be resumed).</param>
/// <param name="BestEpoch">The epoch of the <c>best</c> checkpoint (chosen on validation accuracy, or the last without
/// a validation split).</param>
public sealed record TrainingResult(string RunDirectory, IReadOnlyList<EpochMetrics> History, bool Completed,
    int BestEpoch)
{
    /// <summary>The epoch of the best checkpoint, or null before any epoch completed.</summary>
    public EpochMetrics? Best => History.FirstOrDefault(m => m.Epoch == BestEpoch);
}
