using System.Text.Json.Nodes;

namespace AssocConv.Training;

/// <summary>
/// Where a run stands: the epoch and batch it continues with, and the running sums of the epoch so far. A checkpoint
/// records it (<see cref="ToJson"/>), so a run stopped mid-epoch resumes with the same loss, accuracy and time for
/// that epoch as an uninterrupted one.
/// </summary>
internal sealed class EpochProgress
{
    /// <summary>The epoch that runs next (0-based); equal to the number of epochs done.</summary>
    public int NextEpoch { get; private set; }

    /// <summary>The batch of <see cref="NextEpoch"/> that runs next (0-based).</summary>
    public long NextBatch { get; private set; }

    /// <summary>The sum of the batches' mean losses, each weighted by its images.</summary>
    public double LossSum { get; private set; }

    /// <summary>Images of the epoch so far classified right.</summary>
    public long Correct { get; private set; }

    /// <summary>Images of the epoch so far.</summary>
    public long Seen { get; private set; }

    /// <summary>Training time of the epoch so far, in seconds, over every sitting.</summary>
    public double Seconds { get; set; }

    /// <summary>Mean training loss of the epoch so far.</summary>
    public double Loss => LossSum / Seen;

    /// <summary>Training accuracy of the epoch so far, in percent.</summary>
    public double Accuracy => 100.0 * Correct / Seen;

    /// <summary>Training images per second of the epoch so far.</summary>
    public double ImagesPerSecond => Seen / Math.Max(Seconds, 1e-9);

    /// <summary>Counts one batch of <paramref name="size"/> images with mean loss <paramref name="loss"/>.</summary>
    public void BatchDone(double loss, long correct, long size)
    {
        LossSum += loss * size;
        Correct += correct;
        Seen += size;
        NextBatch++;
    }

    /// <summary>Moves on to the first batch of the next epoch, with empty sums.</summary>
    public void EpochDone()
    {
        NextEpoch++;
        NextBatch = 0;
        LossSum = Seconds = 0;
        Correct = Seen = 0;
    }

    /// <summary>The checkpoint's <c>progress</c> object.</summary>
    public JsonObject ToJson() => new()
    {
        ["next_epoch"] = NextEpoch,
        ["next_batch"] = NextBatch,
        ["loss_sum"] = LossSum,
        ["correct"] = Correct,
        ["seen"] = Seen,
        ["seconds"] = Seconds,
    };

    /// <summary>Reads a checkpoint's <c>progress</c> object, checking each field against a run of <paramref
    /// name="epochs"/>.</summary>
    /// <exception cref="InvalidDataException">A field is missing, of the wrong type or out of range.</exception>
    public static EpochProgress FromJson(JsonNode? json, int epochs)
    {
        EpochProgress p;
        try
        {
            p = new EpochProgress
            {
                NextEpoch = (int)json!["next_epoch"]!,
                NextBatch = (long)json["next_batch"]!,
                LossSum = (double)json["loss_sum"]!,
                Correct = (long)json["correct"]!,
                Seen = (long)json["seen"]!,
                Seconds = (double)json["seconds"]!,
            };
        }
        catch (Exception e) when (e is NullReferenceException or InvalidCastException or InvalidOperationException
            or FormatException)
        {
            throw new InvalidDataException($"its progress is incomplete or invalid ({e.Message})", e);
        }
        // an edited or damaged header must not give negative or repeated epochs
        string? fault =
            p.NextEpoch < 0 || p.NextEpoch > epochs ? $"next epoch {p.NextEpoch} is outside 0..{epochs}"
            : p.NextBatch < 0 ? $"next batch {p.NextBatch}"
            : p.Seen < 0 || p.Correct < 0 || p.Correct > p.Seen ? $"{p.Correct} correct of {p.Seen} seen"
            : !(p.LossSum >= 0) || !(p.Seconds >= 0) || double.IsInfinity(p.LossSum) || double.IsInfinity(p.Seconds)
                ? "a negative or non-finite loss or time"
            : null;
        if (fault is not null) throw new InvalidDataException($"its progress is invalid: {fault}");
        return p;
    }
}
