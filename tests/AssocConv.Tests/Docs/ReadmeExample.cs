// The C# examples of the README and docs/design.md, compiled and run by ReadmeExampleTests; the documents must
// quote each region between its markers exactly.
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using AssocConv.Csg;
using AssocConv.Data;
using AssocConv.Models;
using AssocConv.Native;
using AssocConv.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AssocConv.Tests.Docs;

public static class ReadmeExample
{
    public static (double FirstLoss, double LastLoss, double Ratio) Run()
    {
        // <readme>
        torch.manual_seed(0);
        // one generator (8x8x3x3 slices from codes of 32 numbers) shared by every associative layer
        var generator = new GeneratorOptions { Slice = new SliceShape(8, 8), CodeSize = 32 };
        var model = ModelZoo.Create("small-cnn", new ModelOptions { Generator = generator });
        ConvolutionGuard.Protect(model);                          // checks libtorch's convolutions before trusting them
        var report = ParameterReport.Of(model);
        Console.WriteLine($"{report.Trainable:N0} trainable parameters, {report.Ratio:F2}x fewer than plain");

        using var images = torch.randn(32, 3, 32, 32);          // a batch of your data
        using var labels = torch.randint(0, 10, 32, dtype: int64);
        using var optimizer = optim.SGD(model.parameters(), 0.05, momentum: 0.9, weight_decay: 5e-4);
        var losses = new List<double>();
        model.train();
        for (int step = 0; step < 60; step++)
        {
            using var scope = torch.NewDisposeScope();            // frees this step's tensors
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(images), labels);
            loss.backward();                                      // gradients reach codes and generator
            optimizer.step();
            losses.Add(loss.item<float>());
        }

        model.eval();                                             // kernels are generated once, then cached
        using (torch.no_grad())
        using (var predictions = model.call(images).argmax(1))
            Console.WriteLine($"loss {losses[0]:F3} -> {losses[^1]:F3}");
        Materializer.Materialize(model);                          // plain Conv2d layers, same outputs
        // </readme>
        return (losses[0], losses[^1], report.Ratio);
    }

    public static AssociationReport RunAssociate()
    {
        // <readme-associate>
        // any TorchSharp model; the plain ResNet-56 (853,018 parameters) stands in for yours
        var model = ModelZoo.Create("resnet56", new ModelOptions { Plain = true });
        var result = Associator.Associate(model,
            new GeneratorOptions { Slice = new SliceShape(12, 12), CodeSize = 72 },
            select: ConvSelect.And(ConvSelect.AllButFirst, ConvSelect.Kernel(3)),
            init: AssociateInit.FromWeights);        // generator and codes fitted to the current kernels
        foreach (var layer in result.Layers.Take(3))
            Console.WriteLine($"{layer.Path}: relative error {layer.RelativeError:P1}");
        Console.WriteLine($"{result.TrainableBefore:N0} -> {result.TrainableAfter:N0} trainable parameters, " +
                          $"{result.Layers.Count} layers, overall error {result.RelativeError:P1}");
        // </readme-associate>
        return result;
    }

    public static TrainingResult RunRecipe(string runs)
    {
        // <readme-recipe>
        // the fast recipe, changed where you like; every field is recorded in the run's config.json
        var options = TrainingRecipes.Fast(epochs: 3) with { TrainLimit = 4000, LabelSmoothing = 0.05 };
        var generator = GeneratorOptions.Default with { Slice = new SliceShape(16, 16), CodeInit = CodeInit.FanIn };
        var spec = new ModelSpec("resnet20", new ModelOptions { Generator = generator });
        using var data = Dataset.LoadSample();                    // or Dataset.Load(DatasetSpec.Parse("cifar10"))
        var trainer = Trainer.Start(Path.Combine(runs, "rn20"), spec, data, options);
        // the same run folder as `assocconv train`; Trainer.Resume(folder, data) continues it
        var result = trainer.Run();
        var last = result.History[^1];
        Console.WriteLine($"final epoch: {last.TestAccuracy:F2}% ({last.TestAccuracyFlip:F2}% with flip TTA)");
        // </readme-recipe>
        return result;
    }

    /// <summary>Classifies one 32x32 RGB image (planar bytes) with the ONNX file at <paramref name="path"/>.</summary>
    public static string RunOnnx(string path, byte[] rgb)
    {
        // <readme-onnx>
        // an exported file on ONNX Runtime alone; its metadata says how to feed it
        using var session = new InferenceSession(path);
        var meta = session.ModelMetadata.CustomMetadataMap;
        double[] mean = meta["mean"].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        double[] std = meta["std"].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        string[] classes = JsonSerializer.Deserialize<string[]>(meta["class_names"])!;
        var input = new DenseTensor<float>([1, 3, 32, 32]);      // input_layout NCHW, input_size 3x32x32
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 32 * 32; i++)
                input.Buffer.Span[c * 1024 + i] = (float)((rgb[c * 1024 + i] / 255.0 - mean[c]) / std[c]);
        using var outputs = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
        var logits = outputs[0].AsEnumerable<float>().ToArray();
        string predicted = classes[Array.IndexOf(logits, logits.Max())];
        Console.WriteLine($"{predicted}, by {meta["model"]}");
        // </readme-onnx>
        return predicted;
    }
}
