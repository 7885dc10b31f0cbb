using AssocConv.Training;

namespace AssocConv.Cli;

/// <summary>The run folder's plots, <c>loss.png</c> and <c>accuracy.png</c>, drawn with ScottPlot.</summary>
internal static class RunPlots
{
    public const string LossFile = "loss.png", AccuracyFile = "accuracy.png";

    public static void Write(string runDirectory, IReadOnlyList<EpochMetrics> history, TextWriter warnings)
    {
        if (history.Count == 0) return;
        Plot(Path.Combine(runDirectory, LossFile), "Loss (mean cross-entropy)", "loss", history, warnings,
            ("train", m => m.TrainLoss), ("validation", m => m.ValidationLoss), ("test", m => m.TestLoss));
        Plot(Path.Combine(runDirectory, AccuracyFile), "Accuracy", "accuracy (%)", history, warnings,
            ("train", m => m.TrainAccuracy), ("validation", m => m.ValidationAccuracy), ("test", m => m.TestAccuracy));
    }

    /// <summary>Curves of several runs on one plot (compare): one line per run and series.</summary>
    public static void WriteComparison(string path, string title, string yLabel,
        IEnumerable<(string Name, IReadOnlyList<EpochMetrics> History)> runs, Func<EpochMetrics, double> value,
            TextWriter warnings)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, history) in runs) AddLine(plot, name, history, value);
        Finish(plot, path, title, yLabel, warnings);
    }

    private static void Plot(string path, string title, string yLabel, IReadOnlyList<EpochMetrics> history,
        TextWriter warnings, params (string Name, Func<EpochMetrics, double> Value)[] series)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, value) in series) AddLine(plot, name, history, value);
        Finish(plot, path, title, yLabel, warnings);
    }

    private static void AddLine(ScottPlot.Plot plot, string name, IReadOnlyList<EpochMetrics> history,
        Func<EpochMetrics, double> value)
    {
        var points = history.Where(m => double.IsFinite(value(m))).ToList();
        if (points.Count == 0) return;
        var line = plot.Add.Scatter(points.Select(m => (double)m.Epoch).ToArray(), points.Select(value).ToArray());
        line.LegendText = name;
    }

    private static void Finish(ScottPlot.Plot plot, string path, string title, string yLabel, TextWriter warnings)
    {
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel(yLabel);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };   // epochs are whole
        plot.ShowLegend(ScottPlot.Edge.Right);   // beside the data, never over it
        Save(plot, path, warnings);
    }

    /// <summary>
    /// Writes <paramref name="plot"/> as an 800x500 PNG, with the same write-then-rename as every other file of a run.
    /// Best effort: a plot that cannot be written (a full disk) is reported on <paramref name="warnings"/> and never
    /// stops a training.
    /// </summary>
    public static void Save(ScottPlot.Plot plot, string path, TextWriter warnings)
    {
        var temp = $"{path}.{Environment.ProcessId}.tmp.png";
        try
        {
            plot.SavePng(temp, 800, 500);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warnings.WriteLine($"assocconv: warning: {path} not written: {e.Message}");
            try { File.Delete(temp); } catch (IOException) { }
        }
    }
}
