using Pipeline.Storage.Parquet;

namespace Pipeline.Storage;

/// <summary>An event sink whose rows a decoder may also write column by column (<see cref="EventColumnWriter"/>).</summary>
public interface IEventColumnSink : IEventSink
{
    /// <summary>The writer of rows straight into the columns, or null when this sink (a wrapper) cannot take them that way.</summary>
    EventColumnWriter? ColumnWriter { get; }
}
