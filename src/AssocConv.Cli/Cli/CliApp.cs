using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using AssocConv.Data;
using AssocConv.Distributed;

namespace AssocConv.Cli;

/// <summary>The <c>assocconv</c> command line: verbs, global options, error handling and exit codes.</summary>
internal static class CliApp
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        Terminal Terminal(bool json) => new(output, error, json);
        // a plain Command, not RootCommand, so usage says 'assocconv' rather than the assembly's name
        var root = new Command("assocconv",
            "AssocConv: associative convolutional layers (Omidvar et al., AISTATS 2021) on TorchSharp");
        root.Options.Add(new HelpOption());
        root.Options.Add(new VersionOption());
        root.Options.Add(CommonOptions.Device());
        root.Options.Add(CommonOptions.Threads());
        root.Subcommands.Add(ParamsCommand.Create(Terminal));
        root.Subcommands.Add(ModelsCommand.Create(Terminal));
        root.Subcommands.Add(TrainCommand.Create(Terminal));
        root.Subcommands.Add(EvalCommand.Create(Terminal));
        root.Subcommands.Add(CompareCommand.Create(Terminal));
        root.Subcommands.Add(ReproduceCommand.Create(Terminal));
        root.Subcommands.Add(PlotCommand.Create(Terminal));
        root.Subcommands.Add(PredictCommand.Create(Terminal));
        root.Subcommands.Add(DemoCommand.Create(Terminal));
        root.Subcommands.Add(DataCommand.Create(Terminal));
        root.Subcommands.Add(ImportCommand.Create(Terminal));
        root.Subcommands.Add(ExportCommand.Create(Terminal));
        root.Subcommands.Add(BenchCommand.Create(Terminal));
        return root;
    }

    /// <summary>Parses and runs; a user mistake prints one line and returns 2, any other failure 1. Messages may quote
    /// names from files or arguments, so their control characters are printed as escapes.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = Build(output, error);
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var e in parsed.Errors)
            {
                var message = Friendly(e.Message);
                if (parsed.UnmatchedTokens.FirstOrDefault(t => message.Contains($"'{t}'",
                    StringComparison.Ordinal)) is { } token
                    && Suggestions.Closest(parsed.CommandResult.Command, token) is { } closest)
                    message = $"{message.TrimEnd('.')}; did you mean '{closest}'?";
                error.WriteLine($"assocconv: {DisplayText.Printable(message)}");
            }
            error.WriteLine("Run 'assocconv --help' for usage.");
            return ExitCodes.BadInput;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = output, Error = error,
                EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserMistake(e))
        {
            error.WriteLine($"{Name()}: {DisplayText.Printable(e.Message)}");
            return ExitCodes.BadInput;
        }
        catch (AssocConv.Training.TrainingDivergedException e)
        {
            // every rank reaches this together, from all-reduced numbers: one of them says it
            if (MpiWorld.LaunchedRank is null or 0)
                error.WriteLine($"{Name()}: training stopped: {DisplayText.Printable(e.Message)}");
            return ExitCodes.Failure;
        }
        catch (Exception e)
        {
            error.WriteLine($"{Name()}: {e.GetType().Name}: " + DisplayText.Printable(e.Message));
            if (Environment.GetEnvironmentVariable("ASSOCCONV_DEBUG") == "1") error.WriteLine(e);
            return ExitCodes.Failure;
        }
    }

    // under mpirun every rank prints its own errors, so each says which rank it comes from
    private static string Name() => MpiWorld.LaunchedSize is > 1 and int size
        ? $"assocconv (rank {MpiWorld.LaunchedRank} of {size})" : "assocconv";

    // System.CommandLine names .NET types in conversion errors; say what the user should type instead
    private static string Friendly(string message) =>
        Regex.Replace(message, @"as expected type '(System\.Nullable`1\[)?System\.(?<type>\w+)\]?'", m =>
            m.Groups["type"].Value switch
            {
                "Int32" or "Int64" => "as a whole number",
                "Double" or "Single" => "as a number",
                _ => m.Value,
            });

    private static bool IsUserMistake(Exception e) =>
        e is UsageException or ArgumentException or FormatException or FileNotFoundException
            or DirectoryNotFoundException
            or AssocConv.Data.DataFormatException or InvalidDataException
                or AssocConv.Interop.CheckpointMismatchException or AssocConv.Onnx.OnnxExportException;
}
