using System.Text.Json.Nodes;
using AssocConv.Csg;

namespace AssocConv.Models;

/// <summary>A model's parameter counts as JSON, the same in <c>params --json</c> and a run's
/// <c>summary.json</c>.</summary>
public static class ParameterReportJson
{
    /// <summary>The JSON key of a parameter group (snake case).</summary>
    public static string Key(ParameterGroup group) => group switch
    {
        ParameterGroup.BatchNorm => "batch_norm",
        _ => group.ToString().ToLowerInvariant(),
    };

    /// <summary>The counts of <paramref name="report"/> for zoo model <paramref name="model"/> built with <paramref
    /// name="options"/>, by group, with the generator that built it.</summary>
    public static JsonObject ToJson(string model, ModelOptions options, ParameterReport report)
    {
        var groups = new JsonObject();
        foreach (var (group, count) in report.Groups)
            groups[Key(group)] = new JsonObject
            {
                ["trainable"] = count.Trainable,
                ["frozen"] = count.Frozen,
                ["total"] = count.Total,
            };
        JsonNode? generator = options.Plain ? null : new JsonObject
        {
            ["slice"] = options.Generator!.Slice.ToString(),
            ["code_size"] = options.Generator.CodeSize,
            ["layout"] = options.Generator.Layout.ToString(),
            ["init"] = options.Generator.Init.ToString(),
            ["frozen"] = options.Generator.IsFrozen,
        };
        return new JsonObject
        {
            ["model"] = model,
            ["plain"] = options.Plain,
            ["generator"] = generator,
            ["associative"] = options.Plain ? null : options.Selection.ToName(),
            ["trainable"] = report.Trainable,
            ["frozen"] = report.Frozen,
            ["total"] = report.Total,
            ["plain_trainable"] = report.PlainTrainable,
            ["ratio"] = Math.Round(report.Ratio, 4),
            ["associative_layers"] = report.AssociativeLayers,
            ["running_statistics"] = report.RunningStatistics,
            ["groups"] = groups,
        };
    }
}
