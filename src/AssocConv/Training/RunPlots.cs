namespace AssocConv.Training;

/// <summary>
/// Learning curves as 800x500 PNGs, drawn with ScottPlot. Best effort: a plot that cannot be written (a full disk)
/// is returned as a message, never thrown, so it never stops a training.
/// </summary>
public static class RunPlots
{
    /// <summary>Writes a run's <c>loss.png</c> and <c>accuracy.png</c> into <paramref name="runDirectory"/>; returns
    /// what could not be written.</summary>
    public static IReadOnlyList<string> Write(string runDirectory, IReadOnlyList<EpochMetrics> history)
    {
        if (history.Count == 0) return [];
        var failures = new List<string>();
        Plot(Path.Combine(runDirectory, RunFolder.LossPlotFile), "Loss (mean cross-entropy)", "loss", history,
            failures, ("train", m => m.TrainLoss), ("validation", m => m.ValidationLoss), ("test", m => m.TestLoss));
        Plot(Path.Combine(runDirectory, RunFolder.AccuracyPlotFile), "Accuracy", "accuracy (%)", history, failures,
            ("train", m => m.TrainAccuracy), ("validation", m => m.ValidationAccuracy), ("test", m => m.TestAccuracy));
        return failures;
    }

    /// <summary>Curves of several runs on one plot: one line per run, under <paramref name="title"/> if any. Returns
    /// null, or why it was not written.</summary>
    public static string? WriteComparison(string path, string? title, string yLabel,
        IEnumerable<(string Name, IReadOnlyList<EpochMetrics> History)> runs, Func<EpochMetrics, double> value)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, history) in runs) AddLine(plot, name, history, value);
        return Finish(plot, path, title, yLabel);
    }

    private static void Plot(string path, string title, string yLabel, IReadOnlyList<EpochMetrics> history,
        List<string> failures, params (string Name, Func<EpochMetrics, double> Value)[] series)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (name, value) in series) AddLine(plot, name, history, value);
        if (Finish(plot, path, title, yLabel) is { } failure) failures.Add(failure);
    }

    private static void AddLine(ScottPlot.Plot plot, string name, IReadOnlyList<EpochMetrics> history,
        Func<EpochMetrics, double> value)
    {
        var points = history.Where(m => double.IsFinite(value(m))).ToList();
        if (points.Count == 0) return;
        var line = plot.Add.Scatter(points.Select(m => (double)m.Epoch).ToArray(), points.Select(value).ToArray());
        line.LegendText = name;
    }

    private static string? Finish(ScottPlot.Plot plot, string path, string? title, string yLabel)
    {
        // ScottPlot centres the title over the data, beside the legend, and clips what does not fit: wrap it instead
        if (title is not null) plot.Title(WrapTitle(plot.Axes.Title.Label, title, TitleWidth));
        plot.XLabel("epoch");
        plot.YLabel(yLabel);
        // epochs are whole
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        plot.ShowLegend(ScottPlot.Edge.Right);   // beside the data, never over it
        return Save(plot, path);
    }

    /// <summary>The widest a title line may be, in pixels: half the image, since the legend narrows the data area it is
    /// centred over.</summary>
    internal const float TitleWidth = 400;

    /// <summary><paramref name="title"/> broken at spaces into lines no wider than <paramref name="width"/> pixels in
    /// <paramref name="style"/>'s font (a single longer word keeps its own line).</summary>
    internal static string WrapTitle(ScottPlot.LabelStyle style, string title, float width)
    {
        using var paint = ScottPlot.Paint.NewDisposablePaint();
        var lines = new List<string>();
        foreach (var given in title.Split('\n'))
        {
            string line = "";
            foreach (var word in given.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string longer = line.Length == 0 ? word : $"{line} {word}";
                if (line.Length > 0 && style.Measure(longer, paint).Size.Width > width)
                {
                    lines.Add(line);
                    line = word;
                }
                else line = longer;
            }
            lines.Add(line);
        }
        return string.Join('\n', lines);
    }

    /// <summary>Writes <paramref name="plot"/> as an 800x500 PNG, with the same write-then-rename as every other file
    /// of a run. Returns null, or why it was not written.</summary>
    public static string? Save(ScottPlot.Plot plot, string path)
    {
        var temp = $"{path}.{Environment.ProcessId}.tmp.png";
        try
        {
            plot.SavePng(temp, 800, 500);
            File.Move(temp, path, overwrite: true);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
            return $"{path} not written: {e.Message}";
        }
    }
}
