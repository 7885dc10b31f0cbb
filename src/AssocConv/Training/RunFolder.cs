using System.Text;
using System.Text.Json.Nodes;
using AssocConv.IO;

namespace AssocConv.Training;

/// <summary>
/// The files of one training run. <see cref="Trainer"/> writes all of them, so a run trained from C# leaves the same
/// folder as one trained by the CLI: <c>config.json</c> (model, data, recipe; at the start), <c>metrics.csv</c>,
/// <c>loss.png</c>, <c>accuracy.png</c> and TensorBoard events under <c>events/</c> (after every epoch),
/// <c>last.ckpt</c> (after every epoch, and when stopped), <c>best.ckpt</c> (best validation accuracy) and
/// <c>summary.json</c> (when the run ends or stops). Each file is written to a temporary name and renamed over the
/// old one, so a process killed at any moment leaves every file whole.
/// </summary>
public sealed class RunFolder
{
    /// <summary>File names inside a run folder.</summary>
    public const string ConfigFile = "config.json", MetricsFile = "metrics.csv", SummaryFile = "summary.json",
        LastCheckpointFile = "last.ckpt", BestCheckpointFile = "best.ckpt", EventsFolder = "events",
        DiagnosticsFile = "diagnostics.csv", LossPlotFile = "loss.png", AccuracyPlotFile = "accuracy.png";

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A run folder at <paramref name="location"/> (not created until something is written).</summary>
    public RunFolder(string location) => Location = location;

    /// <summary>The folder, as given.</summary>
    public string Location { get; }

    /// <summary>The checkpoint a run resumes from.</summary>
    public string LastCheckpoint => Combine(LastCheckpointFile);

    /// <summary>The checkpoint of the epoch with the best validation accuracy (the last epoch without a validation
    /// split).</summary>
    public string BestCheckpoint => Combine(BestCheckpointFile);

    /// <summary>Whether a run has saved a checkpoint here (and can be resumed).</summary>
    public bool HoldsRun => File.Exists(LastCheckpoint);

    /// <summary>The path of <paramref name="name"/> inside the folder.</summary>
    public string Combine(string name) => Path.Combine(Location, name);

    /// <summary>The header of the last checkpoint: which model, data and recipe the run has.</summary>
    /// <exception cref="FileNotFoundException">No run was saved here.</exception>
    public JsonObject ReadHeader()
    {
        if (!HoldsRun)
            throw new FileNotFoundException($"{Location} holds no checkpoint to resume ({LastCheckpointFile} missing)",
                LastCheckpoint);
        return Checkpoint.Read(LastCheckpoint).Header;
    }

    /// <summary>The thread count <c>config.json</c> recorded, if any.</summary>
    public int? RecordedThreads()
    {
        var path = Combine(ConfigFile);
        if (!File.Exists(path)) return null;
        try
        {
            return (int?)JsonNode.Parse(File.ReadAllText(path))?["threads"];
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>Deletes the temporary files a killed process left behind.</summary>
    public void RemoveAbandoned() => AtomicFile.RemoveAbandoned(Location);

    /// <summary>Writes <c>config.json</c> (creating the folder).</summary>
    public void WriteConfig(JsonObject config) =>
        AtomicFile.WriteText(Combine(ConfigFile), config.ToJsonString(Indented));

    /// <summary>Writes <c>metrics.csv</c>: one row per epoch of <paramref name="history"/>.</summary>
    public void WriteMetrics(IEnumerable<EpochMetrics> history)
    {
        var text = new StringBuilder(EpochMetrics.CsvHeader).Append('\n');
        foreach (var m in history) text.Append(m.ToCsv()).Append('\n');
        AtomicFile.WriteText(Combine(MetricsFile), text.ToString());
    }

    /// <summary>Reads <c>metrics.csv</c> back: one entry per finished epoch, in order.</summary>
    /// <exception cref="FileNotFoundException">No run wrote one here.</exception>
    /// <exception cref="InvalidDataException">The file is not a metrics file as <see cref="WriteMetrics"/> writes
    /// one.</exception>
    public IReadOnlyList<EpochMetrics> ReadMetrics() => ReadMetrics(Combine(MetricsFile));

    /// <summary>Reads a file written as <c>metrics.csv</c> is (also one copied elsewhere, under another
    /// name).</summary>
    /// <inheritdoc cref="ReadMetrics()"/>
    public static IReadOnlyList<EpochMetrics> ReadMetrics(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists)
            throw new FileNotFoundException($"{path}: not found (every run of train, compare and reproduce has one)",
                path);
        // a row is about 200 bytes: this is far beyond any real run, and keeps a hostile file from filling memory
        if (file.Length > MaxMetricsBytes)
            throw new InvalidDataException($"{path}: {file.Length:N0} bytes, more than a metrics file can hold");
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != EpochMetrics.CsvHeader)
            throw new InvalidDataException($"{path}: not a metrics file (its first line must be " +
                $"'{EpochMetrics.CsvHeader}')");
        var history = new List<EpochMetrics>();
        for (int i = 1; i < lines.Length; i++)
        {
            EpochMetrics row;
            try { row = EpochMetrics.FromCsv(lines[i]); }
            catch (FormatException e) { throw new InvalidDataException($"{path}, line {i + 1}: {e.Message}"); }
            if (history.Count > 0 && row.Epoch <= history[^1].Epoch)
                throw new InvalidDataException($"{path}, line {i + 1}: epoch {row.Epoch} after epoch " +
                    $"{history[^1].Epoch}");
            history.Add(row);
        }
        return history;
    }

    private const long MaxMetricsBytes = 16L << 20;

    /// <summary>Draws <c>loss.png</c> and <c>accuracy.png</c>; returns what could not be written (a full disk must
    /// not stop a training).</summary>
    public IReadOnlyList<string> WritePlots(IReadOnlyList<EpochMetrics> history) => RunPlots.Write(Location, history);

    /// <summary>Writes <c>summary.json</c>.</summary>
    public void WriteSummary(JsonObject summary) =>
        AtomicFile.WriteText(Combine(SummaryFile), summary.ToJsonString(Indented));
}
