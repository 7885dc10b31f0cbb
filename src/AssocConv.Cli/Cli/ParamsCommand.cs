using System.CommandLine;
using AssocConv.Csg;
using AssocConv.Models;
using Spectre.Console;
using TorchSharp;

namespace AssocConv.Cli;

/// <summary><c>assocconv params</c>: a model's parameters by group, and the ratio to its plain counterpart.</summary>
internal static class ParamsCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var model = new ModelArguments();
        var json = CommonOptions.Json();
        var command = new Command("params",
            "Count a model's parameters by group (generator once) and compare with its plain counterpart");
        model.AddTo(command);
        command.Options.Add(json);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var (entry, options) = model.Read(result);
            var term = terminal(result.GetValue(json));
            ParameterReport report;
            using (var built = entry.Build(options))
            {
                built.to(device);
                report = ParameterReport.Of(built);
            }
            string variant = options.Plain ? "plain"
                : options.Generator!.Describe()
                    + (options.Selection == AssociativeSelection.Reference ? ""
                    : $", {options.Selection.ToName()} associative");
            RenderTable(term.Results, entry.Name, variant, report);
            if (result.GetValue(json))
                term.Out.WriteLine(ParameterReportJson.ToJson(entry.Name, options, report)
                    .ToJsonString(new() { WriteIndented = true }));
            return ExitCodes.Success;
        });
        return command;
    }

    private static void RenderTable(IAnsiConsole console, string model, string variant, ParameterReport report)
    {
        var table = new Table().Title($"[bold]{Markup.Escape(model)}[/] ({Markup.Escape(variant)})")
            .AddColumn("group").AddColumn(new TableColumn("trainable").RightAligned())
            .AddColumn(new TableColumn("frozen").RightAligned());
        foreach (var (group, count) in report.Groups)
            table.AddRow(ParameterReportJson.Key(group).Replace('_', ' '), $"{count.Trainable:N0}",
                $"{count.Frozen:N0}");
        table.AddEmptyRow();
        table.AddRow("[bold]total[/]", $"[bold]{report.Trainable:N0}[/]", $"{report.Frozen:N0}");
        table.AddRow("plain counterpart", $"{report.PlainTrainable:N0}", "");
        table.AddRow("ratio (plain / this)", $"{report.Ratio:F2}x", "");
        table.AddRow("running statistics (not counted)", $"{report.RunningStatistics:N0}", "");
        table.AddRow("associative layers", $"{report.AssociativeLayers}", "");
        console.Write(table);
    }
}
