using System.CommandLine;
using System.Text.Json.Nodes;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Onnx;
using AssocConv.Training;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Cli;

/// <summary><c>assocconv predict</c>: the top classes of a trained model for the user's own images.</summary>
internal static class PredictCommand
{
    public static Command Create(Func<bool, Terminal> terminal)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "A checkpoint written by 'assocconv " +
            "train'" };
        var onnx = new Option<string>("--onnx") { Description = "Instead of --checkpoint: an ONNX file written by " +
            "'assocconv export --onnx', run on ONNX Runtime alone" };
        var top = new Option<int>("--top") { Description = "How many classes to show per image",
            DefaultValueFactory = _ => 5 };
        var images = new Argument<string[]>("IMAGE") { Description = "Image files (PNG, JPEG, BMP, GIF, WebP; " +
            "any size, resized)", Arity = ArgumentArity.OneOrMore };
        var json = CommonOptions.Json();
        var command = new Command("predict",
            "Classify images with a trained model: the top classes with probabilities");
        command.Options.Add(checkpoint);
        command.Options.Add(onnx);
        command.Options.Add(top);
        command.Options.Add(json);
        command.Arguments.Add(images);
        command.SetAction(result =>
        {
            var device = CommonOptions.ApplyRuntime(result);
            var term = terminal(result.GetValue(json));
            using var classifier = result.GetValue(onnx) is { } onnxPath
                ? OnnxClassifier(onnxPath, result.GetValue(checkpoint))
                : CheckpointClassifier(result.GetValue(checkpoint), device);
            var (classes, normalization, channels, height, width, logitsOf, _) = classifier;
            if (result.GetValue(onnx) is not null) device = CPU;
            int k = Math.Min(result.GetValue(top), classes.Length);
            if (k < 1) throw new UsageException("--top must be at least 1");
            var output = new JsonArray();
            foreach (var image in result.GetValue(images)!)
            {
                var pixels = ImageFile.Read(image, channels, height, width);
                using var scope = NewDisposeScope();
                using var set = new LabeledImages(tensor(pixels, new long[] { 1, channels, height, width }),
                    tensor(new long[] { 0 }), classes);
                var pipeline = new BatchPipeline(set, normalization, 1, shuffle: false, augment: false, seed: 0,
                    device);
                using var batch = pipeline.Epoch(0).Single();
                Tensor probabilities;
                using (no_grad()) probabilities = nn.functional.softmax(logitsOf(batch.Images), 1)[0];
                var (values, indices) = probabilities.topk(k);
                var p = values.cpu().data<float>().ToArray();
                var c = indices.cpu().data<long>().ToArray();
                // the name whole, on a line of its own: Spectre would wrap or cut it at the console's width
                term.Results.Profile.Out.Writer.WriteLine(DisplayText.Printable(image, keepLines: false));
                var table = new Table().AddColumn("class").AddColumn(new TableColumn("probability").RightAligned());
                var list = new JsonArray();
                for (int i = 0; i < k; i++)
                {
                    table.AddRow(Markup.Escape(classes[c[i]]), $"{100 * p[i]:F1}%");
                    list.Add(new JsonObject { ["class"] = classes[c[i]], ["index"] = c[i], ["probability"] = p[i] });
                }
                term.Results.Write(table);
                output.Add(new JsonObject { ["image"] = image, ["top"] = list });
            }
            if (result.GetValue(json)) term.Out.WriteLine(output.ToJsonString(new() { WriteIndented = true }));
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>What predict needs of a model, whichever runtime computes it.</summary>
    private sealed record Classifier(string[] Classes, Normalization Normalization, int Channels, int Height, int Width,
        Func<Tensor, Tensor> LogitsOf, IDisposable Owner) : IDisposable
    {
        public void Dispose() => Owner.Dispose();
    }

    private static Classifier CheckpointClassifier(string? path, Device device)
    {
        if (path is null) throw new UsageException("--checkpoint FILE (or --onnx FILE) is required");
        if (!Checkpoint.IsCheckpoint(path))
            throw new UsageException($"{path} is not an AssocConv checkpoint (a PyTorch file has no class names " +
                "or normalisation): " +
                $"convert it with 'assocconv import --checkpoint {path} --model NAME [--slice S --code-size C] " +
                    "--data DATA --out FILE.ckpt' and predict with that");
        var (header, model) = Checkpoint.LoadModel(path);
        DataDescription data;
        try { data = DataDescription.FromJson(header["data"], path); }
        catch { model.Dispose(); throw; }
        model.to(device);
        model.eval();
        return new Classifier(data.ClassNames.ToArray(), data.Normalization, data.Channels, data.Height, data.Width,
            model.call, model);
    }

    private static Classifier OnnxClassifier(string path, string? checkpoint)
    {
        if (checkpoint is not null) throw new UsageException("--onnx and --checkpoint: give one");
        var onnx = OnnxModel.Load(path, torch.get_num_threads());
        if (onnx.ClassNames.Count == 0 || OnnxLogits.NormalizationOf(onnx) is not { } normalization)
        {
            onnx.Dispose();
            throw new UsageException($"{path} records no class names or normalisation; export it from a checkpoint " +
                "with 'assocconv export --onnx'");
        }
        var (c, h, w) = onnx.InputSize;
        return new Classifier(onnx.ClassNames.ToArray(), normalization, (int)c, (int)h, (int)w, OnnxLogits.Of(onnx),
            onnx);
    }
}
