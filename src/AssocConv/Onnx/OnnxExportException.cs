namespace AssocConv.Onnx;

/// <summary>A model holds a module the ONNX exporter cannot express; nothing was written.</summary>
public sealed class OnnxExportException(string message) : Exception(message);
