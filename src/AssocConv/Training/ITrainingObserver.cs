namespace AssocConv.Training;

/// <summary>What a training run tells whoever shows its progress (the CLI; nothing in the library prints).</summary>
public interface ITrainingObserver
{
    /// <summary>The run in <paramref name="runDirectory"/> begins (or resumes) at epoch <paramref name="firstEpoch"/>
    /// (1-based) of <paramref name="epochs"/>.</summary>
    void RunStarting(string runDirectory, string description, int firstEpoch, int epochs, long batchesPerEpoch);

    /// <summary>A batch was trained; the numbers are running means over the epoch so far.</summary>
    void BatchDone(int epoch, long batch, long batches, double loss, double accuracy, double imagesPerSecond);

    /// <summary>An epoch ended and was evaluated; <paramref name="isBest"/> when it is the new best checkpoint;
    /// <paramref name="history"/> holds every epoch so far, this one included.</summary>
    void EpochDone(EpochMetrics metrics, bool isBest, IReadOnlyList<EpochMetrics> history);

    /// <summary>Something the run could not do but that does not stop it, e.g. a plot a full disk kept from being
    /// written.</summary>
    void Warning(string message) { }
}

/// <summary>An observer that ignores everything.</summary>
public sealed class SilentObserver : ITrainingObserver
{
    /// <inheritdoc />
    public void RunStarting(string runDirectory, string description, int firstEpoch, int epochs,
        long batchesPerEpoch) { }
    /// <inheritdoc />
    public void BatchDone(int epoch, long batch, long batches, double loss, double accuracy, double imagesPerSecond) { }
    /// <inheritdoc />
    public void EpochDone(EpochMetrics metrics, bool isBest, IReadOnlyList<EpochMetrics> history) { }
}
