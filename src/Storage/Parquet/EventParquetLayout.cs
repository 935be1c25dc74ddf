namespace Pipeline.Storage.Parquet;

/// <summary>Parquet physical types (parquet.thrift <c>Type</c>).</summary>
internal enum PhysicalType
{
    Boolean = 0,
    Int32 = 1,
    Int64 = 2,
    ByteArray = 6,
}

/// <summary>Parquet encodings used here (parquet.thrift <c>Encoding</c>).</summary>
internal enum ParquetEncoding
{
    Plain = 0,
    Rle = 3,
    DeltaBinaryPacked = 5,
    RleDictionary = 8,
}

/// <summary>How one column of <c>events.parquet</c> is laid out.</summary>
/// <param name="Column">The event-table column.</param>
/// <param name="Type">Physical type of its leaf.</param>
/// <param name="Required">No nulls, no definition levels (the header columns every event has).</param>
/// <param name="Encoding">Value encoding of its data pages.</param>
internal sealed record ParquetColumn(EventColumn Column, PhysicalType Type, bool Required, ParquetEncoding Encoding)
{
    /// <summary>Path of the leaf: the name, or <c>stack.list.element</c> for the list.</summary>
    public IReadOnlyList<string> Path { get; } = Column.Kind == ColumnKind.TextList ? [Column.Name, "list", "element"] : [Column.Name];

    /// <summary>Whether min/max statistics are written (integers and booleans; strings get only a null count).</summary>
    public bool HasMinMax => Type != PhysicalType.ByteArray;

    /// <summary>Unsigned order for min/max (UBIGINT).</summary>
    public bool Unsigned => Column.Kind == ColumnKind.UInt64;
}

/// <summary>
/// The physical layout of <c>events.parquet</c> (docs/schema.md, "Physical layout"): which columns are required,
/// how each is encoded, and the footer that describes a finished file to readers.
/// </summary>
internal static class EventParquetLayout
{
    /// <summary>Every column, in <see cref="EventSchema"/> order.</summary>
    public static IReadOnlyList<ParquetColumn> Columns { get; } = [.. EventSchema.Columns.Select(Describe)];

    /// <summary>Bits of the columns that may be null (a row's mask bit is set when the value is present).</summary>
    public static ulong NullableMask { get; } = Columns.Where(c => !c.Required).Aggregate(0UL, (m, c) => m | (1UL << c.Column.Ordinal));

    private static ParquetColumn Describe(EventColumn column)
    {
        int o = column.Ordinal;
        bool required = o is EventSchema.Seq or EventSchema.TsNs or EventSchema.Cpu or EventSchema.Pid
            or EventSchema.Comm or EventSchema.Event or EventSchema.SrcPos;
        // Row ids, timestamps and line numbers/offsets grow: deltas pack into a few bits.
        ParquetEncoding growing = o is EventSchema.Seq or EventSchema.TsNs or EventSchema.SrcPos
            ? ParquetEncoding.DeltaBinaryPacked
            : ParquetEncoding.Plain;
        return column.Kind switch
        {
            ColumnKind.Int64 or ColumnKind.UInt64 => new ParquetColumn(column, PhysicalType.Int64, required, growing),
            ColumnKind.Int32 => new ParquetColumn(column, PhysicalType.Int32, required, ParquetEncoding.Plain),
            ColumnKind.Bool => new ParquetColumn(column, PhysicalType.Boolean, required, ParquetEncoding.Plain),
            // args is mostly distinct per row: plain; names, comms and symbolic fields repeat: dictionary.
            ColumnKind.Text => new ParquetColumn(column, PhysicalType.ByteArray, required,
                o == EventSchema.Args ? ParquetEncoding.Plain : ParquetEncoding.RleDictionary),
            ColumnKind.TextList => new ParquetColumn(column, PhysicalType.ByteArray, required, ParquetEncoding.Plain),
            _ => throw new InvalidOperationException($"Unknown column kind {column.Kind}."),
        };
    }

    /// <summary>Writes the FileMetaData struct of a file holding <paramref name="rowGroups"/>.</summary>
    public static void WriteFooter(ThriftCompactWriter thrift, IReadOnlyList<WrittenRowGroup> rowGroups, string createdBy)
    {
        thrift.BeginStruct();
        thrift.I32Field(1, 1);
        WriteSchema(thrift);
        thrift.I64Field(3, rowGroups.Sum(g => (long)g.Rows));
        thrift.StructListField(4, rowGroups.Count);
        foreach (WrittenRowGroup group in rowGroups)
        {
            WriteRowGroup(thrift, group);
        }
        thrift.StringField(6, createdBy);
        // TYPE_ORDER for every leaf: min/max follow the logical type (unsigned for UBIGINT).
        thrift.StructListField(7, Columns.Count);
        for (int i = 0; i < Columns.Count; i++)
        {
            thrift.BeginStruct();
            thrift.StructField(1);
            thrift.EndStruct();
            thrift.EndStruct();
        }
        thrift.EndStruct();
    }

    private static void WriteSchema(ThriftCompactWriter thrift)
    {
        int elements = 1 + Columns.Sum(c => c.Column.Kind == ColumnKind.TextList ? 3 : 1);
        thrift.StructListField(2, elements);
        thrift.BeginStruct();
        thrift.StringField(4, "schema");
        thrift.I32Field(5, Columns.Count);
        thrift.EndStruct();
        foreach (ParquetColumn column in Columns)
        {
            if (column.Column.Kind == ColumnKind.TextList)
            {
                // The three-level LIST of the format spec: optional group (LIST) { repeated group list { optional element } }.
                thrift.BeginStruct();
                thrift.I32Field(3, 1);
                thrift.StringField(4, column.Column.Name);
                thrift.I32Field(5, 1);
                thrift.I32Field(6, 3);
                thrift.StructField(10);
                thrift.StructField(3);
                thrift.EndStruct();
                thrift.EndStruct();
                thrift.EndStruct();
                thrift.BeginStruct();
                thrift.I32Field(3, 2);
                thrift.StringField(4, "list");
                thrift.I32Field(5, 1);
                thrift.EndStruct();
                WriteLeaf(thrift, PhysicalType.ByteArray, required: false, "element", ColumnKind.Text);
                continue;
            }
            WriteLeaf(thrift, column.Type, column.Required, column.Column.Name, column.Column.Kind);
        }
    }

    private static void WriteLeaf(ThriftCompactWriter thrift, PhysicalType type, bool required, string name, ColumnKind kind)
    {
        thrift.BeginStruct();
        thrift.I32Field(1, (int)type);
        thrift.I32Field(3, required ? 0 : 1);
        thrift.StringField(4, name);
        if (kind == ColumnKind.Text)
        {
            thrift.I32Field(6, 0); // UTF8
            thrift.StructField(10);
            thrift.StructField(1); // STRING
            thrift.EndStruct();
            thrift.EndStruct();
        }
        else if (kind == ColumnKind.UInt64)
        {
            thrift.I32Field(6, 14); // UINT_64
            thrift.StructField(10);
            thrift.StructField(10); // INTEGER(64, unsigned)
            thrift.I8Field(1, 64);
            thrift.BoolField(2, false);
            thrift.EndStruct();
            thrift.EndStruct();
        }
        thrift.EndStruct();
    }

    private static void WriteRowGroup(ThriftCompactWriter thrift, WrittenRowGroup group)
    {
        thrift.BeginStruct();
        thrift.StructListField(1, group.Chunks.Length);
        long compressed = 0;
        long uncompressed = 0;
        for (int i = 0; i < group.Chunks.Length; i++)
        {
            ColumnChunkMeta chunk = group.Chunks[i];
            ParquetColumn column = Columns[i];
            long first = group.Offset + (chunk.DictionaryPageOffset >= 0 ? chunk.DictionaryPageOffset : chunk.DataPageOffset);
            compressed += chunk.CompressedSize;
            uncompressed += chunk.UncompressedSize;
            thrift.BeginStruct();
            thrift.I64Field(2, first);
            thrift.StructField(3);
            thrift.I32Field(1, (int)column.Type);
            thrift.I32ListField(2, chunk.Encodings);
            thrift.StringListField(3, column.Path);
            thrift.I32Field(4, 6); // ZSTD
            thrift.I64Field(5, chunk.NumValues);
            thrift.I64Field(6, chunk.UncompressedSize);
            thrift.I64Field(7, chunk.CompressedSize);
            thrift.I64Field(9, group.Offset + chunk.DataPageOffset);
            if (chunk.DictionaryPageOffset >= 0)
            {
                thrift.I64Field(11, group.Offset + chunk.DictionaryPageOffset);
            }
            thrift.StructField(12);
            thrift.I64Field(3, chunk.NullCount);
            if (chunk.Min is not null && chunk.Max is not null)
            {
                thrift.BinaryField(5, chunk.Max);
                thrift.BinaryField(6, chunk.Min);
            }
            thrift.EndStruct();
            thrift.EndStruct();
            thrift.EndStruct();
        }
        thrift.I64Field(2, uncompressed);
        thrift.I64Field(3, group.Rows);
        thrift.I64Field(5, group.Offset + group.FirstPageOffset);
        thrift.I64Field(6, compressed);
        thrift.EndStruct();
    }
}

/// <summary>What the footer needs of one encoded column chunk (offsets relative to its row group's bytes).</summary>
internal sealed class ColumnChunkMeta
{
    public long DictionaryPageOffset { get; set; } = -1;

    public long DataPageOffset { get; set; }

    public long UncompressedSize { get; set; }

    public long CompressedSize { get; set; }

    public long NumValues { get; set; }

    public int[] Encodings { get; set; } = [];

    public long NullCount { get; set; }

    public byte[]? Min { get; set; }

    public byte[]? Max { get; set; }
}

/// <summary>A row group as written: where its bytes start in the file and its chunks.</summary>
internal sealed record WrittenRowGroup(long Offset, int Rows, ColumnChunkMeta[] Chunks)
{
    public long FirstPageOffset => Chunks.Length == 0 ? 0
        : Chunks[0].DictionaryPageOffset >= 0 ? Chunks[0].DictionaryPageOffset : Chunks[0].DataPageOffset;
}
