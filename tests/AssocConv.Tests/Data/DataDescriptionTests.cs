using System.Text.Json.Nodes;
using AssocConv.Data;

namespace AssocConv.Tests.Data;

public class DataDescriptionTests
{
    [Fact]
    public void A_dataset_description_round_trips_through_json()
    {
        using var sample = Dataset.LoadSample();
        var back = DataDescription.FromJson(JsonNode.Parse(sample.ToJson().ToJsonString()), "test");
        Assert.Equal(("sample", 1, 28, 28), (back.Spec, back.Channels, back.Height, back.Width));
        Assert.Equal(sample.Train.ClassNames, back.ClassNames);
        Assert.Equal(Normalization.FashionMnist.Mean, back.Normalization.Mean);
        Assert.Equal(Normalization.FashionMnist.Std, back.Normalization.Std);
    }

    [Theory]
    [InlineData("mean", null, "'mean' is missing")]
    [InlineData("std", "[0]", "standard deviations (0) positive")]
    [InlineData("mean", "[0.1, 0.2]", "2 means and 1 standard deviations for 1 channels")]
    [InlineData("class_names", "\"shirt\"", "'class_names' is missing or not a list")]
    [InlineData("class_names", "[]", "0 class names")]
    [InlineData("class_names", "[\"cat\", \"\\u001b[2Jdog\"]",
        "class name 1 ('\\u001B[2Jdog') holds the control character U+001B")]
    [InlineData("class_names", "[\"cat\", \"\"]", "class name 1 is empty")]
    [InlineData("channels", "0", "'channels' is 0")]
    [InlineData("height", "1e12", "'height' is 1000000000000")]
    [InlineData("width", "\"wide\"", "'width' is not a whole number")]
    public void A_damaged_description_is_refused_naming_what_is_wrong(string field, string? value, string message)
    {
        using var sample = Dataset.LoadSample();
        var json = (JsonObject)JsonNode.Parse(sample.ToJson().ToJsonString())!;   // as read from a file
        json[field] = value is null ? null : JsonNode.Parse(value);
        if (value is null) json.Remove(field);
        var e = Assert.Throws<InvalidDataException>(() => DataDescription.FromJson(json, "model.ckpt"));
        Assert.StartsWith("model.ckpt: its data description is invalid", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_missing_description_is_refused()
    {
        Assert.Contains("does not describe its data",
            Assert.Throws<InvalidDataException>(() => DataDescription.FromJson(null, "model.ckpt")).Message);
    }
}
