using AssocConv.Training;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>
/// Shows a run's progress: a live bar (loss, accuracy, images/s, time left) on a terminal, and one plain
/// line per epoch otherwise, on the status console (stderr); redraws the run's plots after every epoch.
/// </summary>
internal sealed class ProgressObserver : ITrainingObserver
{
    private readonly IAnsiConsole _console;
    private readonly TextWriter _lines;
    private ProgressTask? _task;
    private int _epochs;

    public ProgressObserver(Terminal term)
    {
        _console = term.Status;
        _lines = term.Error;
    }

    /// <summary>Whether a live bar can be drawn.</summary>
    public bool Live => _console.Profile.Capabilities.Interactive && _console.Profile.Capabilities.Ansi;

    /// <summary>Runs <paramref name="work"/>, with the live bar when there is a terminal.</summary>
    public T Run<T>(Func<T> work)
    {
        if (!Live) return work();
        T result = default!;
        _console.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(),
                new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                _task = ctx.AddTask("starting", maxValue: 1);
                result = work();
            });
        return result;
    }

    public void RunStarting(string runDirectory, string description, int firstEpoch, int epochs, long batchesPerEpoch)
    {
        _epochs = epochs;
        var line = $"training {description}: epoch {firstEpoch} to {epochs}, {batchesPerEpoch} batches per epoch";
        if (_task is null) _lines.WriteLine(line);
        else
        {
            _console.MarkupLine(Markup.Escape(line));
            _task.MaxValue = (double)epochs * batchesPerEpoch;
            _task.Value = (double)(firstEpoch - 1) * batchesPerEpoch;
        }
    }

    public void BatchDone(int epoch, long batch, long batches, double loss, double accuracy, double imagesPerSecond)
    {
        if (_task is null) return;
        _task.Value = (double)(epoch - 1) * batches + batch;
        _task.Description = $"epoch {epoch}/{_epochs}  loss {loss:F3}  acc {accuracy:F1}%  {imagesPerSecond:F0} img/s";
    }

    public void EpochDone(EpochMetrics m, bool isBest, IReadOnlyList<EpochMetrics> history)
    {
        bool validated = !double.IsNaN(m.ValidationAccuracy);
        string val = validated ? $"val {m.ValidationAccuracy:F2}%  " : "";
        // without a validation split every epoch is 'best' (best.ckpt is the last): marking it would read as a
        // claim about the test accuracy beside it
        var line = $"epoch {m.Epoch}/{_epochs}  lr {m.LearningRate:G3}  train loss {m.TrainLoss:F4} acc " +
            $"{m.TrainAccuracy:F2}%  " +
            $"{val}test loss {m.TestLoss:F4} acc {m.TestAccuracy:F2}%  {m.Seconds:F0} s  {m.ImagesPerSecond:F0} " +
                $"img/s{(isBest && validated ? "  best" : "")}";
        if (_task is null) _lines.WriteLine(line);
        else _console.MarkupLine(Markup.Escape(line));
    }

    public void Warning(string message) => _lines.WriteLine($"assocconv: warning: {message}");
}
