using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Interop;
using AssocConv.Models;
using AssocConv.Training;
using TorchSharp;

namespace AssocConv.Cli;

/// <summary><c>assocconv import</c>: a reference PyTorch checkpoint converted to an AssocConv checkpoint.</summary>
internal static class ImportCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "A torch.save file of the reference " +
            "implementation (.t7, .pt, .pth)", Required = true };
        var model = new ModelArguments();
        var data = new DataArguments(required: true);
        var output = new Option<string>("--out") { Description = "The AssocConv checkpoint to write", Required = true };
        var command = new Command("import",
            "Convert a reference PyTorch checkpoint into an AssocConv checkpoint (then eval and predict " +
                "need no --model)");
        command.Options.Add(checkpoint);
        model.AddTo(command);
        data.AddTo(command);
        command.Options.Add(output);
        command.SetAction(result =>
        {
            CommonOptions.ApplyRuntime(result);
            var term = terminal(false);
            var path = result.GetValue(checkpoint)!;
            var (entry, options) = model.Read(result);
            using var dataset = DataArguments.Load(data.Spec(result)!, term);
            var spec = new ModelSpec(entry.Name, options with
            {
                InputChannels = (int)dataset.Train.Channels,
                NumClasses = options.NumClasses ?? dataset.NumClasses,
            });
            using var net = spec.Build();
            using (var file = TorchFile.Read(path))
            {
                ReferenceCheckpoint.LoadInto(net, file, path);
                var header = new JsonObject
                {
                    ["format"] = "assocconv-checkpoint",
                    ["version"] = 1,
                    ["model"] = spec.ToJson(),
                    ["data"] = dataset.ToJson(),
                    ["imported_from"] = new JsonObject
                    {
                        ["file"] = Path.GetFullPath(path),
                        ["layout"] = file.Layout.ToString(),
                        ["extras"] = new JsonObject(file.Extras.Select(e => KeyValuePair.Create(e.Key,
                            JsonValue.Create(e.Value?.ToString())))
                            .Select(kv => new KeyValuePair<string, JsonNode?>(kv.Key, kv.Value))),
                    },
                };
                Checkpoint.Save(result.GetValue(output)!, header, net);
            }
            term.Error.WriteLine($"wrote {result.GetValue(output)}: {spec.Describe()}");
            return ExitCodes.Success;
        });
        return command;
    }
}
