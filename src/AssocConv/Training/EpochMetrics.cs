using System.Globalization;
using System.Text.Json.Nodes;

namespace AssocConv.Training;

/// <summary>One epoch's numbers, one row of <c>metrics.csv</c>.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="LearningRate">Learning rate during the epoch.</param>
/// <param name="TrainLoss">Mean cross-entropy over the epoch's training images.</param>
/// <param name="TrainAccuracy">Percent of training images classified right (as they were trained on,
/// augmented).</param>
/// <param name="ValidationLoss">Mean cross-entropy on the validation split, or NaN without one.</param>
/// <param name="ValidationAccuracy">Percent right on the validation split, or NaN without one.</param>
/// <param name="TestLoss">Mean cross-entropy on the test set.</param>
/// <param name="TestAccuracy">Percent right on the test set.</param>
/// <param name="Seconds">Wall-clock seconds of the training part of the epoch.</param>
/// <param name="ImagesPerSecond">Training images per second.</param>
/// <param name="TestAccuracyFlip">Percent right on the test set with flip test-time augmentation, or NaN when not
/// measured.</param>
public sealed record EpochMetrics(int Epoch, double LearningRate, double TrainLoss, double TrainAccuracy,
    double ValidationLoss, double ValidationAccuracy, double TestLoss, double TestAccuracy, double Seconds,
    double ImagesPerSecond, double TestAccuracyFlip = double.NaN)
{
    /// <summary>The CSV header.</summary>
    public const string CsvHeader =
        "epoch,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,seconds,images_per_s,test_acc_flip";

    private static readonly int CsvColumns = CsvHeader.Split(',').Length;

    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>One CSV row.</summary>
    public string ToCsv() => string.Join(',', Epoch.ToString(CultureInfo.InvariantCulture), F(LearningRate),
        F(TrainLoss),
        F(TrainAccuracy), F(ValidationLoss), F(ValidationAccuracy), F(TestLoss), F(TestAccuracy), F(Seconds),
            F(ImagesPerSecond), F(TestAccuracyFlip));

    /// <summary>One row of <c>metrics.csv</c>, as <see cref="ToCsv"/> writes it (an empty field is NaN).</summary>
    /// <exception cref="FormatException">Not such a row.</exception>
    public static EpochMetrics FromCsv(string line)
    {
        if (line.Length == 0) throw new FormatException("an empty line");
        var fields = line.Split(',');
        if (fields.Length != CsvColumns) throw new FormatException($"{fields.Length} fields, not {CsvColumns}");
        double D(int i)
        {
            if (fields[i].Length == 0) return double.NaN;
            return double.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
                ? v : throw new FormatException($"field {i + 1} is not a number");
        }
        if (!int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out int epoch) || epoch < 1)
            throw new FormatException("the epoch is not a whole number from 1 up");
        return new EpochMetrics(epoch, D(1), D(2), D(3), D(4), D(5), D(6), D(7), D(8), D(9), D(10));
    }

    /// <summary>As JSON (NaN as null).</summary>
    public JsonObject ToJson()
    {
        static JsonNode? N(double v) => double.IsFinite(v) ? v : null;   // JSON has no NaN or infinity
        return new JsonObject
        {
            ["epoch"] = Epoch, ["lr"] = N(LearningRate), ["train_loss"] = N(TrainLoss),
                ["train_acc"] = N(TrainAccuracy),
            ["val_loss"] = N(ValidationLoss), ["val_acc"] = N(ValidationAccuracy), ["test_loss"] = N(TestLoss),
            ["test_acc"] = N(TestAccuracy), ["seconds"] = N(Seconds), ["images_per_s"] = N(ImagesPerSecond),
            ["test_acc_flip"] = N(TestAccuracyFlip),
        };
    }

    /// <summary>From <see cref="ToJson"/>'s output.</summary>
    public static EpochMetrics FromJson(JsonNode j)
    {
        static double D(JsonNode? n) => n is null ? double.NaN : (double)n;
        return new EpochMetrics((int)j["epoch"]!, D(j["lr"]), D(j["train_loss"]), D(j["train_acc"]), D(j["val_loss"]),
            D(j["val_acc"]), D(j["test_loss"]), D(j["test_acc"]), D(j["seconds"]), D(j["images_per_s"]),
                D(j["test_acc_flip"]));
    }
}
