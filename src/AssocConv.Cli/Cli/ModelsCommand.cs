using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Models;
using Spectre.Console;

namespace AssocConv.Cli;

/// <summary><c>assocconv models</c>: the registered architectures and their default generators.</summary>
internal static class ModelsCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var json = CommonOptions.Json();
        var command = new Command("models", "List the models that --model accepts");
        command.Options.Add(json);
        command.SetAction(result =>
        {
            bool asJson = result.GetValue(json);
            var term = terminal(asJson);
            var entries = ModelZoo.All;
            if (asJson)
            {
                var list = new JsonArray();
                foreach (var e in entries)
                    list.Add(new JsonObject
                    {
                        ["name"] = e.Name,
                        ["family"] = e.Family,
                        ["input_size"] = e.InputSize,
                        ["classes"] = e.Classes,
                        ["description"] = e.Description,
                        ["slice"] = e.DefaultGenerator.Slice.ToString(),
                        ["code_size"] = e.DefaultGenerator.CodeSize,
                    });
                term.Out.WriteLine(list.ToJsonString(new() { WriteIndented = true }));
                return ExitCodes.Success;
            }
            var table = new Table().AddColumn("model").AddColumn("default generator").AddColumn("description");
            foreach (var e in entries)
                table.AddRow(e.Name, $"{e.DefaultGenerator.Slice}, code {e.DefaultGenerator.CodeSize}",
                    Markup.Escape(e.Description));
            term.Results.Write(table);
            term.Results.MarkupLine("Also any [bold]resnetN[/] with N = 6n+2 (resnet164, resnet1202) and any " +
                "[bold]densenet-bc-DEPTH-GROWTH[/] with DEPTH = 6n+4 (densenet-bc-190-40).");
            return ExitCodes.Success;
        });
        return command;
    }
}
