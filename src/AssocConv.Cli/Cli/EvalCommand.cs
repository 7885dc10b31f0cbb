using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Interop;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Onnx;
using AssocConv.Tensors;
using AssocConv.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Cli;

/// <summary><c>assocconv eval</c>: accuracy, loss, per-class accuracy and confusion matrix of a checkpoint.</summary>
internal static class EvalCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint written by 'assocconv train', or a PyTorch torch.save file of the reference " +
                "implementation (then give --model and the generator flags)",
        };
        var onnx = new Option<string>("--onnx") { Description = "Instead of --checkpoint: an ONNX file written by " +
            "'assocconv export --onnx', evaluated on ONNX Runtime alone" };
        var model = new ModelArguments(required: false);
        var data = new DataArguments(required: false);
        var split = new Option<string>("--split") { Description = "test or train", DefaultValueFactory = _ => "test" };
        var batch = new Option<int>("--batch-size") { Description = "Images per batch",
            DefaultValueFactory = _ => 256 };
        var format = CommonOptions.MemoryFormat();
        var json = CommonOptions.Json();
        var command = new Command("eval",
            "Evaluate a checkpoint: accuracy, loss, per-class accuracy, confusion matrix, images/s");
        command.Options.Add(checkpoint);
        command.Options.Add(onnx);
        model.AddTo(command);
        data.AddTo(command);
        foreach (var o in new Option[] { split, batch, format, json }) command.Options.Add(o);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var memoryFormat = CommonOptions.ReadMemoryFormat(result, format);
            var term = terminal(result.GetValue(json));
            if (result.GetValue(batch) < 1) throw new UsageException("--batch-size must be at least 1");
            if (result.GetValue(onnx) is { } onnxPath)
            {
                if (result.GetValue(checkpoint) is not null || model.Given(result))
                    throw new UsageException("--onnx: the file describes its model; leave out " +
                        "--checkpoint and --model");
                return EvaluateOnnx(onnxPath, data, result, result.GetValue(split)!, result.GetValue(batch), term,
                    result.GetValue(json));
            }
            var path = result.GetValue(checkpoint)
                ?? throw new UsageException("--checkpoint FILE (or --onnx FILE) is required");
            if (!File.Exists(path)
                && !Directory.Exists(path)) throw new FileNotFoundException($"no checkpoint at {path}", path);
            bool ours = Checkpoint.IsCheckpoint(path);
            ModelSpec spec;
            DatasetSpec dataSpec;
            Action<nn.Module> load;
            if (ours)
            {
                if (model.Given(result)) throw new UsageException($"{path} describes its model: leave out --model");
                var (header, payload) = Checkpoint.Read(path);
                spec = ModelSpec.FromJson(header["model"]!);
                dataSpec = data.Spec(result) ?? DatasetSpec.Parse((string)header["data"]!["spec"]!);
                load = m => { Checkpoint.LoadInto(payload, header, m); FiniteWeights.Check(path, m.state_dict()); };
            }
            else
            {
                if (!model.Given(result))
                    throw new UsageException($"{path} is not an AssocConv checkpoint; for a PyTorch file give " +
                        "--model and --plain or the generator flags (--slice, --code-size)");
                dataSpec = data.Spec(result) ?? throw new UsageException("--data is required with a PyTorch file");
                var (entry, options) = model.Read(result);
                spec = new ModelSpec(entry.Name, options);
                var file = TorchFile.Read(path);
                load = m => { using (file) ReferenceCheckpoint.LoadInto(m, file, path); };
            }
            using var dataset = DataArguments.Load(dataSpec, term);
            spec = spec with { Options = spec.Options with { InputChannels = (int)dataset.Train.Channels,
                NumClasses = spec.Options.NumClasses ?? dataset.NumClasses } };
            string which = result.GetValue(split)!.ToLowerInvariant();
            var images = Split(dataset, which);
            if (images.Channels != spec.Options.InputChannels || dataset.NumClasses != spec.Options.NumClasses)
                throw new UsageException($"{path} was trained on {spec.Options.InputChannels}-channel images with " +
                    $"{spec.Options.NumClasses} classes; " +
                    $"{dataSpec} has {images.Channels} channels and {dataset.NumClasses} classes");
            using var net = spec.Build();
            ConvolutionGuard.Protect(net);
            load(net);
            net.to(device);
            var r = Evaluator.Evaluate(net, images, dataset.Normalization, result.GetValue(batch), device,
                memoryFormat);
            Render(term.Results, spec.Describe(), which, images.ClassNames, r);
            if (result.GetValue(json))
                term.Out.WriteLine(ToJson(path, spec, dataSpec, which, images.ClassNames,
                    r).ToJsonString(new() { WriteIndented = true }));
            return ExitCodes.Success;
        });
        return command;
    }

    private static LabeledImages Split(Dataset dataset, string which) => which switch
    {
        "test" => dataset.Test,
        "train" => dataset.Train,
        _ => throw new UsageException($"--split: '{which}' is not test or train"),
    };

    // the same measures and output as for a checkpoint, with ONNX Runtime computing the logits
    private static int EvaluateOnnx(string path, DataArguments data, ParseResult result, string split, int batchSize,
        Terminal term, bool json)
    {
        using var onnx = OnnxModel.Load(path, torch.get_num_threads());
        var dataSpec = data.Spec(result) ?? (onnx.Data is { } recorded ? DatasetSpec.Parse(recorded)
            : throw new UsageException($"{path} does not record its dataset: give --data"));
        using var dataset = DataArguments.Load(dataSpec, term);
        string which = split.ToLowerInvariant();
        var images = Split(dataset, which);
        if (images.Channels != onnx.InputSize.Channels || dataset.NumClasses != onnx.Classes)
            throw new UsageException($"{path} takes {onnx.InputSize.Channels}-channel images and has {onnx.Classes} " +
                $"outputs; {dataSpec} has {images.Channels} channels and {dataset.NumClasses} classes");
        // the normalisation the model was trained with, when the file records it
        var normalization = OnnxLogits.NormalizationOf(onnx) ?? dataset.Normalization;
        var r = Evaluator.Evaluate(OnnxLogits.Of(onnx), images, normalization, batchSize, CPU, MemoryFormat.Contiguous);
        string description = $"{Path.GetFileName(path)} (ONNX Runtime, {onnx.Form.ToString().ToLowerInvariant()})";
        Render(term.Results, description, which, images.ClassNames, r);
        if (json)
        {
            var output = ToJson(path, null, dataSpec, which, images.ClassNames, r);
            output.Remove("checkpoint");
            output["onnx"] = path;
            output["model"] = ModelJson(onnx.Model);
            output["form"] = onnx.Form.ToString().ToLowerInvariant();
            term.Out.WriteLine(output.ToJsonString(new() { WriteIndented = true }));
        }
        return ExitCodes.Success;
    }

    // the exported model's description as JSON, or as the text it is when a hand-edited file holds no JSON
    private static JsonNode? ModelJson(string text)
    {
        if (text.Length == 0) return null;
        try
        {
            return JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException)
        {
            return JsonValue.Create(text);
        }
    }

    private static JsonObject ToJson(string path, ModelSpec? spec, DatasetSpec data, string split,
        IReadOnlyList<string> classes, EvaluationResult r)
    {
        var perClass = new JsonObject();
        for (int c = 0; c < classes.Count; c++) perClass[classes[c]] = double.IsNaN(r.PerClassAccuracy[c]) ? null
            : r.PerClassAccuracy[c];
        var confusion = new JsonArray();
        for (int t = 0; t < classes.Count; t++)
            confusion.Add(new JsonArray(Enumerable.Range(0, classes.Count)
                .Select(p => (JsonNode)r.Confusion[t, p]).ToArray()));
        return new JsonObject
        {
            ["checkpoint"] = path,
            ["model"] = spec?.ToJson(),
            ["data"] = data.ToString(),
            ["split"] = split,
            ["samples"] = r.Samples,
            ["accuracy"] = r.Accuracy,
            ["loss"] = r.Loss,
            ["per_class_accuracy"] = perClass,
            ["confusion"] = confusion,
            ["classes"] = new JsonArray(classes.Select(c => (JsonNode)c).ToArray()),
            ["images_per_s"] = r.ImagesPerSecond,
        };
    }

    private static void Render(IAnsiConsole console, string model, string split, IReadOnlyList<string> classes,
        EvaluationResult r)
    {
        console.MarkupLine($"[bold]{Markup.Escape(model)}[/] on the {split} set: accuracy [bold]{r.Accuracy:F2}%[/], " +
            $"loss {r.Loss:F4}, {r.Samples:N0} images, {r.ImagesPerSecond:F0} images/s");
        var table = new Table().AddColumn("class").AddColumn(new TableColumn("accuracy").RightAligned());
        for (int c = 0; c < classes.Count && c < 100; c++)
            table.AddRow(Markup.Escape(classes[c]),
                double.IsNaN(r.PerClassAccuracy[c]) ? "-" : $"{r.PerClassAccuracy[c]:F1}%");
        console.Write(table);
        if (classes.Count <= 20)
        {
            var confusion = new Table().Title("confusion (rows: true class, columns: predicted)").AddColumn("");
            for (int p = 0; p < classes.Count; p++) confusion.AddColumn(new TableColumn(p.ToString()).RightAligned());
            for (int t = 0; t < classes.Count; t++)
                confusion.AddRow(new[] { $"{t} {Markup.Escape(classes[t])}" }
                    .Concat(Enumerable.Range(0, classes.Count).Select(p => r.Confusion[t, p].ToString())).ToArray());
            console.Write(confusion);
        }
    }
}
