using Spectre.Console;

namespace AssocConv.Cli;

/// <summary>
/// Where a verb writes: <see cref="Out"/> for results (one JSON document with <c>--json</c>),
/// <see cref="Status"/> for tables, progress and messages that must not mix with JSON.
/// </summary>
internal sealed class Terminal
{
    public TextWriter Out { get; }

    /// <summary>stderr as plain text: messages and log lines that must not be wrapped at the console's width.</summary>
    public TextWriter Error { get; }

    /// <summary>Human-readable results: stdout normally, stderr when stdout carries JSON.</summary>
    public IAnsiConsole Results { get; }

    /// <summary>Progress and notes: always stderr.</summary>
    public IAnsiConsole Status { get; }

    public Terminal(TextWriter output, TextWriter error, bool json)
    {
        Out = output;
        Error = error;
        Status = Create(error);
        Results = json ? Status : Create(output);
    }

    // a table written to a file or a pipe is read later or by a program: squeezed to the 80 columns Spectre assumes
    // there, its cells would wrap mid-word
    private const int UnboundWidth = 240;

    private static IAnsiConsole Create(TextWriter writer)
    {
        bool stderr = ReferenceEquals(writer, Console.Error);
        bool terminal = stderr ? !Console.IsErrorRedirected
            : ReferenceEquals(writer, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            // live progress on stderr whenever stderr is a terminal, also when stdout is redirected (--json > file)
            Interactive = stderr ? (terminal ? InteractionSupport.Yes : InteractionSupport.No)
                : InteractionSupport.Detect,
        });
        if (!terminal) console.Profile.Width = UnboundWidth;
        return console;
    }
}
