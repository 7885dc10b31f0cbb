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
    /// <summary>A number a row holds after its epoch: its name (in the CSV header, in JSON, plot's --metric), what
    /// it measures as a plot's axis says it, and its value in a row.</summary>
    public sealed record Column(string Name, string Description, Func<EpochMetrics, double> Value);

    /// <summary>The numbers of a row after its epoch, in the file's order: the one list that the header, the rows,
    /// JSON and plot are written from, so a new number cannot reach one and miss another.</summary>
    public static readonly IReadOnlyList<Column> Columns =
    [
        new("lr", "learning rate", m => m.LearningRate),
        new("train_loss", "training loss", m => m.TrainLoss),
        new("train_acc", "training accuracy, augmented images (%)", m => m.TrainAccuracy),
        new("val_loss", "validation loss", m => m.ValidationLoss),
        new("val_acc", "validation accuracy (%)", m => m.ValidationAccuracy),
        new("test_loss", "test loss", m => m.TestLoss),
        new("test_acc", "test accuracy (%)", m => m.TestAccuracy),
        new("seconds", "seconds of training in the epoch", m => m.Seconds),
        new("images_per_s", "training images per second", m => m.ImagesPerSecond),
        new("test_acc_flip", "test accuracy, flip test-time augmentation (%)", m => m.TestAccuracyFlip),
    ];

    /// <summary>The CSV header.</summary>
    public static readonly string CsvHeader = "epoch," + string.Join(',', Columns.Select(c => c.Name));

    /// <summary>A row from its epoch and its numbers in <see cref="Columns"/>' order: the only place that order
    /// meets the constructor's.</summary>
    private static EpochMetrics FromColumns(int epoch, IReadOnlyList<double> v) =>
        new(epoch, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]);

    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>One CSV row.</summary>
    public string ToCsv() =>
        string.Join(',', Columns.Select(c => F(c.Value(this))).Prepend(Epoch.ToString(CultureInfo.InvariantCulture)));

    /// <summary>One row of <c>metrics.csv</c>, as <see cref="ToCsv"/> writes it (an empty field is NaN).</summary>
    /// <exception cref="FormatException">Not such a row.</exception>
    public static EpochMetrics FromCsv(string line)
    {
        if (line.Length == 0) throw new FormatException("an empty line");
        var fields = line.Split(',');
        if (fields.Length != Columns.Count + 1)
            throw new FormatException($"{fields.Length} fields, not {Columns.Count + 1}");
        double D(int i)
        {
            if (fields[i].Length == 0) return double.NaN;
            return double.TryParse(fields[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
                ? v : throw new FormatException($"field {i + 1} is not a number");
        }
        if (!int.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out int epoch) || epoch < 1)
            throw new FormatException("the epoch is not a whole number from 1 up");
        return FromColumns(epoch, Enumerable.Range(1, Columns.Count).Select(D).ToList());
    }

    /// <summary>As JSON (NaN as null).</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject { ["epoch"] = Epoch };
        foreach (var c in Columns)
            json[c.Name] = c.Value(this) is var v && double.IsFinite(v) ? v : null;   // JSON has no NaN or infinity
        return json;
    }

    /// <summary>From <see cref="ToJson"/>'s output.</summary>
    public static EpochMetrics FromJson(JsonNode j) =>
        FromColumns((int)j["epoch"]!, Columns.Select(c => j[c.Name] is { } n ? (double)n : double.NaN).ToList());
}
