//! Reader of the E5S1 file that ships multilingual-e5-small (4-bit Q4_0 weights)
//! and its conversion to a standard safetensors checkpoint with HF `BertModel`
//! tensor names plus a `config.json`, after which the encoder loads like any HF BERT.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, ensure, Context};
use half::f16;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::json;

/// Model sizes from the E5S1 header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub layer_norm_eps: f32,
}

/// A dequantised tensor with its HF name and shape.
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Little-endian cursor over the file's bytes; every read is bounds-checked.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.with_context(|| format!("truncated at byte {} (wanted {n} more)", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into()?))
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn i32(&mut self) -> anyhow::Result<i32> {
        Ok(i32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn usize_i32(&mut self) -> anyhow::Result<usize> {
        let v = self.i32()?;
        usize::try_from(v).with_context(|| format!("negative size {v} at byte {}", self.pos - 4))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn f32(&mut self) -> anyhow::Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into()?))
    }
}

/// Parses an E5S1 file into its header and HF-named, dequantised tensors.
pub fn read(bytes: &[u8]) -> anyhow::Result<(Header, Vec<NamedTensor>)> {
    let mut c = Cursor { bytes, pos: 0 };
    ensure!(c.take(4)? == b"E5S1", "not an E5S1 file (bad magic)");
    let version = c.u32()?;
    ensure!(version == 1, "unsupported E5S1 version {version}");
    let header = Header {
        hidden: c.usize_i32()?,
        layers: c.usize_i32()?,
        heads: c.usize_i32()?,
        ffn: c.usize_i32()?,
        vocab: c.usize_i32()?,
        max_positions: c.usize_i32()?,
        type_vocab: c.usize_i32()?,
        layer_norm_eps: c.f32()?,
    };
    let block = c.usize_i32()?;
    ensure!(block == 32, "unsupported quantisation block size {block}");

    // The tokenizer section is skipped: tokenizer.json is the tokenizer of record.
    let n_pieces = c.usize_i32()?;
    c.take(16)?; // bos, eos, pad, unk
    let blob_len = c.u64()? as usize;
    c.take((n_pieces + 1) * 4 + n_pieces * 4 + blob_len)?;
    let _map_count = c.i32()?;
    let map_len = c.u32()? as usize;
    c.take(map_len)?;

    let n_tensors = c.usize_i32()?;
    let mut tensors = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        let name_len = c.u16()? as usize;
        let name = std::str::from_utf8(c.take(name_len)?).context("tensor name is not UTF-8")?.to_string();
        let dtype = c.u8()?;
        let elements = c.u32()? as usize;
        let offset = c.u64()? as usize;
        let byte_count = c.u64()? as usize;
        let raw = bytes
            .get(offset..offset.saturating_add(byte_count))
            .with_context(|| format!("tensor {name}: data lies outside the file"))?;
        let data = match dtype {
            0 => {
                ensure!(byte_count == elements * 4, "tensor {name}: {byte_count} bytes for {elements} f32");
                raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
            }
            1 => dequantize_q4_0(raw, elements).with_context(|| format!("tensor {name}"))?,
            other => bail!("tensor {name}: unknown dtype {other}"),
        };
        let (hf_name, shape) = hf_tensor(&name, &header)?;
        ensure!(
            shape.iter().product::<usize>() == elements,
            "tensor {name}: {elements} elements, expected shape {shape:?}"
        );
        tensors.push(NamedTensor { name: hf_name, shape, data });
    }
    Ok((header, tensors))
}

/// Q4_0: blocks of 32 weights, an f16 scale then 16 bytes; byte j holds weight j in
/// its low nibble and weight j+16 in its high nibble; value = scale * (nibble - 8).
pub fn dequantize_q4_0(raw: &[u8], elements: usize) -> anyhow::Result<Vec<f32>> {
    ensure!(elements.is_multiple_of(32), "{elements} elements is not a whole number of blocks");
    ensure!(raw.len() == elements / 32 * 18, "{} bytes for {elements} Q4_0 weights", raw.len());
    let mut out = vec![0f32; elements];
    for (block, weights) in raw.chunks_exact(18).zip(out.chunks_exact_mut(32)) {
        let scale = f16::from_le_bytes([block[0], block[1]]).to_f32();
        for (j, &byte) in block[2..].iter().enumerate() {
            weights[j] = scale * ((byte & 0x0f) as f32 - 8.0);
            weights[j + 16] = scale * ((byte >> 4) as f32 - 8.0);
        }
    }
    Ok(out)
}

/// The HF `BertModel` name and shape of an E5S1 tensor.
fn hf_tensor(name: &str, h: &Header) -> anyhow::Result<(String, Vec<usize>)> {
    let (d, f) = (h.hidden, h.ffn);
    let emb = |n: &str, shape: Vec<usize>| Ok((format!("embeddings.{n}"), shape));
    match name {
        "emb.word" => return emb("word_embeddings.weight", vec![h.vocab, d]),
        "emb.pos" => return emb("position_embeddings.weight", vec![h.max_positions, d]),
        "emb.type" => return emb("token_type_embeddings.weight", vec![h.type_vocab, d]),
        "emb.ln.w" => return emb("LayerNorm.weight", vec![d]),
        "emb.ln.b" => return emb("LayerNorm.bias", vec![d]),
        _ => {}
    }
    let unknown = || anyhow::anyhow!("unknown tensor name `{name}`");
    let rest = name.strip_prefix('l').ok_or_else(unknown)?;
    let (layer, rest) = rest.split_once('.').ok_or_else(unknown)?;
    let layer: usize = layer.parse().map_err(|_| unknown())?;
    ensure!(layer < h.layers, "tensor {name}: layer {layer} beyond {} layers", h.layers);
    let (module, param) = rest.rsplit_once('.').ok_or_else(unknown)?;
    let (path, out_dim, in_dim) = match module {
        "q" => ("attention.self.query", d, Some(d)),
        "k" => ("attention.self.key", d, Some(d)),
        "v" => ("attention.self.value", d, Some(d)),
        "ao" => ("attention.output.dense", d, Some(d)),
        "aln" => ("attention.output.LayerNorm", d, None),
        "fi" => ("intermediate.dense", f, Some(d)),
        "fo" => ("output.dense", d, Some(f)),
        "oln" => ("output.LayerNorm", d, None),
        _ => return Err(unknown()),
    };
    let (suffix, shape) = match (param, in_dim) {
        ("w", Some(i)) => ("weight", vec![out_dim, i]),
        ("w", None) => ("weight", vec![out_dim]),
        ("b", _) => ("bias", vec![out_dim]),
        _ => return Err(unknown()),
    };
    Ok((format!("encoder.layer.{layer}.{path}.{suffix}"), shape))
}

/// The HF `config.json` of a BERT encoder with these sizes.
pub fn hf_config(h: &Header, pad_token_id: u32) -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": h.layer_norm_eps,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "pad_token_id": pad_token_id,
        "position_embedding_type": "absolute",
    })
}

/// Converts `src` (E5S1) into `model.safetensors` and `config.json` inside `out_dir`,
/// each written atomically.
pub fn convert(src: &Path, out_dir: &Path) -> anyhow::Result<Header> {
    let bytes = fs_err::read(src)?;
    let (header, tensors) = read(&bytes).with_context(|| format!("{}", src.display()))?;
    let raw: BTreeMap<&str, (&[usize], Vec<u8>)> = tensors
        .iter()
        .map(|t| (t.name.as_str(), (t.shape.as_slice(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect())))
        .collect();
    let views = raw
        .iter()
        .map(|(name, (shape, data))| Ok((*name, TensorView::new(Dtype::F32, shape.to_vec(), data)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let model = out_dir.join("model.safetensors");
    crate::atomic::write_with(&model, |tmp| {
        safetensors::serialize_to_file(views, None, tmp).with_context(|| format!("writing {}", model.display()))
    })?;
    // <pad> is id 1 in the XLM-R vocabulary the e5 tokenizer uses.
    let config = serde_json::to_string_pretty(&hf_config(&header, 1))?;
    crate::atomic::write_file(&out_dir.join("config.json"), config.as_bytes())?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_nibbles_and_scale() {
        let mut block = vec![0u8; 18];
        block[..2].copy_from_slice(&f16::from_f32(0.5).to_le_bytes());
        block[2] = 0xF0; // weight 0: nibble 0 -> -4.0 ; weight 16: nibble 15 -> 3.5
        block[17] = 0x89; // weight 15: nibble 9 -> 0.5 ; weight 31: nibble 8 -> 0.0
        let w = dequantize_q4_0(&block, 32).unwrap();
        assert_eq!((w[0], w[16], w[15], w[31], w[1]), (-4.0, 3.5, 0.5, 0.0, -4.0));
        assert!(dequantize_q4_0(&block, 64).is_err());
    }

    #[test]
    fn names_map_to_hf_bert() {
        let h = Header {
            hidden: 4,
            layers: 2,
            heads: 2,
            ffn: 8,
            vocab: 10,
            max_positions: 6,
            type_vocab: 2,
            layer_norm_eps: 1e-12,
        };
        assert_eq!(hf_tensor("l1.fi.w", &h).unwrap(), ("encoder.layer.1.intermediate.dense.weight".into(), vec![8, 4]));
        assert_eq!(
            hf_tensor("l0.aln.b", &h).unwrap(),
            ("encoder.layer.0.attention.output.LayerNorm.bias".into(), vec![4])
        );
        assert_eq!(hf_tensor("emb.word", &h).unwrap().1, vec![10, 4]);
        assert!(hf_tensor("l2.q.w", &h).is_err());
        assert!(hf_tensor("l0.zz.w", &h).is_err());
    }

    #[test]
    fn truncated_file_is_an_error_not_a_panic() {
        let mut bytes = b"E5S1".to_vec();
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(384i32.to_le_bytes());
        let err = read(&bytes).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
