#!/usr/bin/env python3
"""Writes the small NumPy fixtures that DataTests reads. Run once from this directory:
    python3 make_fixtures.py
Values are simple closed forms so the Swift tests can recompute them without NumPy."""
import numpy as np
from numpy.lib import format as npformat

a = (np.arange(6, dtype=np.float64).reshape(2, 3) * 0.5 - 1.0)   # [[-1, -0.5, 0], [0.5, 1, 1.5]]

np.save("f4_2x3.npy", a.astype("<f4"))                      # version 1.0
np.save("f8_2x3.npy", a.astype("<f8"))
np.save("f2_2x3.npy", a.astype("<f2"))
np.save("big_f4_2x3.npy", a.astype(">f4"))
np.save("fortran_f4_2x3.npy", np.asfortranarray(a.astype("<f4")))
np.save("i8_5.npy", np.array([3, -1, 0, 9, 2], dtype="<i8"))
np.save("i4_2x2x2.npy", np.arange(8, dtype="<i4").reshape(2, 2, 2) - 4)
np.save("u1_4.npy", np.array([0, 1, 128, 255], dtype="|u1"))
np.save("b1_3.npy", np.array([True, False, True]))
np.save("scalar_f4.npy", np.array(2.5, dtype="<f4"))
with open("v2_f4_2x3.npy", "wb") as f:
    npformat.write_array(f, a.astype("<f4"), version=(2, 0))
with open("v3_f4_2x3.npy", "wb") as f:
    npformat.write_array(f, a.astype("<f4"), version=(3, 0))

# User data: inputs x [6, 3] and two tasks; -1 marks a missing class, NaN a missing regression target.
x = (np.arange(18, dtype=np.float32).reshape(6, 3) / 10)
left = np.array([0, 1, 2, -1, 1, 0], dtype=np.int64)
right = np.array([0.5, np.nan, 1.5, 2.0, 2.5, 3.0], dtype=np.float32)
np.savez("user_stored.npz", x=x, left=left, right=right)
np.savez_compressed("user_compressed.npz", x=x, left=left, right=right)
np.savez("user_bad_lengths.npz", x=x, left=left[:5], right=right)
