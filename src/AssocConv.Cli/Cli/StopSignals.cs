using System.Runtime.InteropServices;
using AssocConv.Distributed;

namespace AssocConv.Cli;

/// <summary>
/// Ctrl+C and SIGTERM for the whole life of a training verb: the first asks it to save and stop (a training after its
/// batch; compare and reproduce also before their next run, so a signal between two runs still ends with the line
/// saying how to go on), a second ends the process at once.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly Terminal _term;
    private readonly ConsoleCancelEventHandler _onCtrlC;
    private readonly PosixSignalRegistration? _onSigterm;

    public StopSignals(Terminal term)
    {
        _term = term;
        _onCtrlC = (_, e) =>
        {
            if (Requested) return;   // a second Ctrl+C ends the process at once
            e.Cancel = true;
            Request("stopping: saving the run after this batch (Ctrl+C again to quit at once)");
        };
        Console.CancelKeyPress += _onCtrlC;
        // A run in the background (nohup, a batch scheduler, systemd) is stopped with SIGTERM, and a shell starts
        // background jobs with SIGINT ignored: SIGTERM saves the run too.
        try
        {
            _onSigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                if (Requested) return;   // a second SIGTERM ends the process at once
                context.Cancel = true;
                // under mpirun a rank that died sends the others SIGTERM too; they cannot save without it
                Request(MpiWorld.LaunchedSize is > 1
                    ? "stopping on SIGTERM: saving the run after this batch if every rank reaches it (if one died, " +
                        "the last checkpoint stays whole)"
                    : "stopping on SIGTERM: saving the run after this batch");
            });
        }
        catch (PlatformNotSupportedException)
        {
            _onSigterm = null;
        }
    }

    public CancellationToken Token => _cancel.Token;

    public bool Requested => _cancel.IsCancellationRequested;

    /// <summary>What a signal does, saying <paramref name="why"/> on stderr.</summary>
    public void Request(string why)
    {
        _cancel.Cancel();
        _term.Error.WriteLine(why);
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= _onCtrlC;
        _onSigterm?.Dispose();
        _cancel.Dispose();
    }
}
